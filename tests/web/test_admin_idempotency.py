"""``Idempotency-Key`` on the admin API's creating requests
(draft-ietf-httpapi-idempotency-key-header §2): a retry with the same key and request
gets the first answer (and ``Idempotent-Replayed: true``) instead of a second object; the
same key with another request is 422; a retry while the first still runs is 409. Keys
belong to one caller, so an answer holding a secret is never shown to anyone else."""

# ruff: noqa: F401, F811

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.storage.idempotency import IdempotencyKeyRow, IdempotencyStore
from tests.conformance.conftest import Registered, client_credentials
from tests.web.test_admin_api import (
    Admins,
    _model_changes_seen_at_once,
    _no_groups_left,
    _one_rsa_key_per_run,
    admins,
    assert_error,
    http,
    root,
    walk,
)

ROLES = "/admin/v1/roles"
KEY = {"Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}


async def test_a_retry_gets_the_first_answer_and_makes_nothing_new(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    body = {"name": "clerk", "permissions": ["orders:write"]}
    first = await http.post(ROLES, json=body, headers=root | KEY)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    retry = await http.post(ROLES, json=body, headers=root | KEY)
    assert retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    for header in ("location", "etag", "content-type", "cache-control"):
        assert retry.headers[header] == first.headers[header]
    # Without the key, the same request is a duplicate, as always.
    assert_error(await http.post(ROLES, json=body, headers=root), 409, "conflict")
    created = [e for e in await walk(http, "/admin/v1/audit-events?tag=role:created", root)]
    assert [e["subject"] for e in created].count("role:clerk") == 1


async def test_the_same_key_with_another_request_is_422(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    first = await http.post(ROLES, json={"name": "clerk"}, headers=root | KEY)
    assert first.status_code == 201
    other = await http.post(ROLES, json={"name": "auditor"}, headers=root | KEY)
    assert_error(other, 422, "idempotency_key_reused")
    assert_error(await http.get(ROLES + "/auditor", headers=root), 404, "not_found")
    # Another collection is another request too.
    group = await http.post("/admin/v1/groups", json={"name": "clerk"}, headers=root | KEY)
    assert_error(group, 422, "idempotency_key_reused")


async def test_a_retry_while_the_first_runs_is_409_until_it_is_abandoned(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    admins: Admins,
) -> None:
    """The first request's reservation is made as it would be by a request still running
    (or one whose process died): a retry must not run the creation a second time."""
    await admins.role("authgate-admin", "*")
    client_id, headers = await admins.client(("authgate-admin", "/"))
    now = clock.now()
    store = IdempotencyStore(container.db)
    held = await store.reserve(
        f"client:{client_id}",
        KEY["Idempotency-Key"],
        "0" * 64,
        now,
        expire_before=now - timedelta(days=1),
        stale_before=now - timedelta(minutes=2),
    )
    assert held is None
    retry = await http.post(ROLES, json={"name": "clerk"}, headers=headers | KEY)
    assert_error(retry, 409, "idempotency_key_in_use")
    assert_error(await http.get(ROLES + "/clerk", headers=headers), 404, "not_found")
    clock.advance(timedelta(minutes=3))  # the first request is taken as dead
    taken = await http.post(ROLES, json={"name": "clerk"}, headers=headers | KEY)
    assert taken.status_code == 201, taken.text


async def test_a_failure_is_not_remembered(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    body = {"name": "clerk", "inherits": ["reader"]}
    assert_error(await http.post(ROLES, json=body, headers=root | KEY), 404, "not_found")
    await admins.role("reader", "orders:read")
    again = await http.post(ROLES, json=body, headers=root | KEY)
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers


async def test_keys_belong_to_their_caller_and_secrets_stay_sealed(
    http: httpx.AsyncClient, container: Container, admins: Admins
) -> None:
    """Two callers sending the same key make two API keys: neither sees the other's
    secret. The remembered answer is stored sealed, so the database never holds it."""
    alice_id, alice = await admins.client()
    bob_id, bob = await admins.client()
    body = {"name": "deploy"}
    first = await http.post("/admin/v1/api-keys", json=body, headers=alice | KEY)
    assert first.status_code == 201, first.text
    theirs = await http.post("/admin/v1/api-keys", json=body, headers=bob | KEY)
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["key"] != first.json()["key"]
    assert theirs.json()["owner"] != first.json()["owner"]
    replay = await http.post("/admin/v1/api-keys", json=body, headers=alice | KEY)
    assert replay.json() == first.json(), "the original caller gets its answer back"
    async with container.db.transaction() as session:
        callers = [f"client:{alice_id}", f"client:{bob_id}"]
        query = select(IdempotencyKeyRow).where(IdempotencyKeyRow.caller.in_(callers))
        rows = list((await session.execute(query)).scalars())
    assert len(rows) == 2
    secret = first.json()["key"].encode()
    for row in rows:
        assert row.response is not None and secret not in row.response
        assert first.json()["id"].encode() not in row.response


async def test_a_replay_asks_again_for_what_the_first_answer_needed(
    http: httpx.AsyncClient, container: Container, admins: Admins
) -> None:
    """A new client's secret is shown once, in the first answer. A caller whose
    ``clients.write`` was taken away since cannot fetch it again by replaying the key."""
    await admins.role("client-admin", "authgate:clients.write")
    caller_id, headers = await admins.client(("client-admin", "/"))
    body = {"name": "billing", "grant_types": ["client_credentials"]}
    first = await http.post("/admin/v1/clients", json=body, headers=headers | KEY)
    assert first.status_code == 201, first.text
    assert first.json()["client_secret"]
    for binding in await container.access.list_bindings(member=f"client:{caller_id}"):
        await container.access.unbind(CLI, binding.id)
    replay = await http.post("/admin/v1/clients", json=body, headers=headers | KEY)
    assert_error(replay, 403, "insufficient_scope")
    assert first.json()["client_secret"] not in replay.text


async def test_an_answer_is_remembered_for_24_hours(
    http: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    await container.access.create_role(CLI, "authgate-admin", ["*"])
    client, secret = await container.clients.create(
        CLI,
        name="admin caller",
        grant_types=["client_credentials"],
        audiences=[container.oauth.config.admin_audience],
    )
    await container.access.bind(CLI, "authgate-admin", f"client:{client.client_id}", "/")

    async def headers() -> dict[str, str]:
        token = await client_credentials(
            http,
            Registered(client.client_id, secret),
            resource=container.oauth.config.admin_audience,
        )
        return {"Authorization": f"Bearer {token['access_token']}"} | KEY

    assert (await http.post(ROLES, json={"name": "a"}, headers=await headers())).status_code == 201
    clock.advance(timedelta(hours=23))
    late = await http.post(ROLES, json={"name": "b"}, headers=await headers())
    assert_error(late, 422, "idempotency_key_reused")
    clock.advance(timedelta(hours=1, seconds=1))
    fresh = await http.post(ROLES, json={"name": "b"}, headers=await headers())
    assert fresh.status_code == 201, "after 24 hours the key is forgotten"


@pytest.mark.parametrize(
    "value",
    ["", " ", "has space", "x" * 256, "caf\u00e9".encode()],
    ids=["empty", "blank", "space", "too-long", "not-ascii"],
)
async def test_a_malformed_key_is_400(
    http: httpx.AsyncClient, root: dict[str, str], value: str | bytes
) -> None:
    headers: dict[str, str | bytes] = {**root, "Idempotency-Key": value}
    response = await http.post(ROLES, json={"name": "clerk"}, headers=headers)
    assert_error(response, 400, "invalid_request")
    assert_error(await http.get(ROLES + "/clerk", headers=root), 404, "not_found")


async def test_two_keys_on_one_request_are_400(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    headers = [*root.items(), ("Idempotency-Key", "one"), ("Idempotency-Key", "two")]
    response = await http.post(ROLES, json={"name": "clerk"}, headers=headers)
    assert_error(response, 400, "invalid_request")


CREATES: list[Any] = [
    pytest.param("/admin/v1/groups", {"name": "support"}, id="groups"),
    pytest.param("/admin/v1/groups/support/members", {"user": "alice"}, id="members"),
    pytest.param("/admin/v1/bindings", {"role": "reader", "member": "user:alice"}, id="bindings"),
    pytest.param("/admin/v1/apis", {"audience": "https://x.example.com", "name": "X"}, id="apis"),
    pytest.param("/admin/v1/signing-keys/rotate", {}, id="rotation"),
]


@pytest.mark.parametrize(("path", "body"), CREATES)
async def test_every_create_honours_the_key(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    root: dict[str, str],
    path: str,
    body: dict[str, Any],
) -> None:
    await container.users.create("alice", CLI)
    await admins.role("reader", "orders:read")
    if "members" in path:
        assert (
            await http.post("/admin/v1/groups", json={"name": "support"}, headers=root)
        ).is_success
    first = await http.post(path, json=body, headers=root | KEY)
    assert first.status_code == 201, first.text
    retry = await http.post(path, json=body, headers=root | KEY)
    assert (retry.status_code, retry.content) == (201, first.content)
    assert retry.headers["idempotent-replayed"] == "true"
    assert_error(
        await http.post(path, json={"x": 1}, headers=root | KEY), 422, "idempotency_key_reused"
    )
