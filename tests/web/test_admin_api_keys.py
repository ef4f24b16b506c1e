"""``/admin/v1/api-keys`` (spec §4, §5; docs/admin-api.md): self-service for a caller's
own keys, administrators for others' within what they hold themselves, API keys as
callers of AuthGate's own APIs (``Authorization: Bearer`` or ``X-API-Key``), and bad input
refused with nothing written.

Fixtures come from the other admin test modules, imported by name; hence F401 and F811
are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.container import Container
from authgate.storage.models import ApiKeyRow
from tests.conformance.conftest import _model_changes_seen_at_once, _one_rsa_key_per_run, http
from tests.web.test_admin_api import Admins, _no_groups_left, admins, assert_error, events, root

KEYS = "/admin/v1/api-keys"
EVALUATION = "/access/v1/evaluation"


@pytest.fixture
async def world(container: Container, admins: Admins, root: dict[str, str]) -> str:
    """carol holds orders:read and orders:write at /; returns her member name."""
    await admins.role("clerk", "orders:read", "orders:write")
    await admins.role("reader", "orders:read")
    await admins.role("evaluator", "authgate:evaluate")
    await admins.role("key-admin", "authgate:apikeys.read", "authgate:apikeys.write")
    carol = await container.users.create("carol", CLI)
    await container.access.bind(CLI, "clerk", f"user:{carol.id}")
    return f"user:{carol.id}"


async def _count(container: Container) -> int:
    async with container.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(ApiKeyRow)) or 0)


async def test_a_caller_manages_its_own_keys_without_admin_permissions(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: str
) -> None:
    client_id, headers = await admins.client(("reader", "/"))
    made = await http.post(KEYS, json={"name": "nightly export"}, headers=headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["owner"] == f"client:{client_id}" and body["key"].startswith("agk_")
    assert made.headers["cache-control"] == "no-store"
    assert made.headers["location"].endswith(f"{KEYS}/{body['id']}")
    listed = await http.get(KEYS, params={"owner": f"client:{client_id}"}, headers=headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["items"]] == [body["id"]]
    assert "key" not in listed.json()["items"][0]  # shown once, at creation
    shown = await http.get(f"{KEYS}/{body['id']}", headers=headers)
    assert shown.status_code == 200 and "key" not in shown.json()
    gone = await http.delete(f"{KEYS}/{body['id']}", headers=headers)
    assert gone.status_code == 204
    assert await container.api_key_auth.authenticate(body["key"], None) is None
    assert [e.subject for e in await events(container, AuditTag.APIKEY_REVOKED)] == [
        f"apikey:{body['id']}"
    ]


async def test_others_keys_are_hidden_without_apikeys_read(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: str
) -> None:
    theirs = await container.api_keys.create(CLI, world, permissions=["orders:read"])
    _, headers = await admins.client(("reader", "/"))
    assert_error(await http.get(f"{KEYS}/{theirs.api_key.id}", headers=headers), 404, "not_found")
    assert_error(
        await http.delete(f"{KEYS}/{theirs.api_key.id}", headers=headers), 404, "not_found"
    )
    assert_error(await http.get(KEYS, headers=headers), 403, "insufficient_scope")
    assert_error(
        await http.get(KEYS, params={"owner": world}, headers=headers), 403, "insufficient_scope"
    )
    assert await container.api_key_auth.authenticate(theirs.key, None) is not None


async def test_an_admin_makes_a_key_for_someone_within_what_both_hold(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], world: str
) -> None:
    made = await http.post(
        KEYS,
        json={"owner": "user:carol", "permissions": ["orders:read"], "expires_in": "30d"},
        headers=root,
    )
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == world  # the username is stored as the user's id
    assert made.json()["expires_at"] is not None
    caller = await container.api_key_auth.authenticate(made.json()["key"], None)
    assert caller is not None and caller.member == world
    # a permission carol lacks, and a key without a list, are refused
    lacking = await http.post(
        KEYS, json={"owner": world, "permissions": ["billing:read"]}, headers=root
    )
    assert_error(lacking, 400, "invalid_request")
    unlisted = await http.post(KEYS, json={"owner": world}, headers=root)
    assert_error(unlisted, 400, "invalid_request")
    assert await _count(container) == 1


async def test_a_key_admin_cannot_hand_out_what_they_do_not_hold(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: str
) -> None:
    """Escalation: ``apikeys.write`` alone would let its holder act as anyone; a key for
    someone else may carry only what the caller holds too."""
    _, headers = await admins.client(("key-admin", "/"), ("reader", "/"))
    refused = await http.post(
        KEYS, json={"owner": world, "permissions": ["orders:write"]}, headers=headers
    )
    assert_error(refused, 403, "privilege_escalation")
    allowed = await http.post(
        KEYS, json={"owner": world, "permissions": ["orders:read"]}, headers=headers
    )
    assert allowed.status_code == 201, allowed.text
    assert await _count(container) == 1


async def test_an_api_key_calls_the_decision_api_with_either_header(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: str
) -> None:
    """Spec §4/§6: callers of the decision API authenticate with an access token or an
    API key holding ``authgate:evaluate``."""
    await container.access.bind(CLI, "evaluator", world)
    key = (await container.api_keys.create(CLI, world, permissions=["authgate:evaluate"])).key
    question = {
        "subject": {"type": "user", "id": "carol"},
        "action": {"name": "orders:read"},
        "resource": {"type": "order", "id": "1"},
    }
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        answer = await http.post(EVALUATION, json=question, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] is True
    narrow = (await container.api_keys.create(CLI, world, permissions=["orders:read"])).key
    refused = await http.post(EVALUATION, json=question, headers={"X-API-Key": narrow})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    await container.api_keys.revoke(CLI, key[4:16])
    revoked = await http.post(EVALUATION, json=question, headers={"X-API-Key": key})
    assert revoked.status_code == 401
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


async def test_an_api_key_cannot_make_api_keys(
    http: httpx.AsyncClient, container: Container, world: str
) -> None:
    key = (await container.api_keys.create(CLI, world)).key
    refused = await http.post(KEYS, json={}, headers={"X-API-Key": key})
    assert_error(refused, 403, "insufficient_scope")
    assert await _count(container) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"surprise": 1},
        {"expires_in": "soon"},
        {"expires_in": "0s"},
        {"allowed_networks": ["10.0.0.0/40"]},
        {"permissions": ["not a permission"]},
        {"permissions": "orders:read"},
        {"name": "x" * 201},
        {"owner": "robot:1"},
        {"owner": "user:nobody"},
    ],
    ids=str,
)
async def test_bad_input_is_refused_and_nothing_is_written(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], world: str, body: object
) -> None:
    response = await http.post(KEYS, json=body, headers=root)
    assert_error(response, 400, "invalid_request")
    assert await _count(container) == 0


async def test_a_body_that_is_not_json_is_refused(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    response = await http.post(
        KEYS, content=b"name=x", headers={**root, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type")
    assert await _count(container) == 0


async def test_a_key_gets_reasons_only_when_it_lists_the_explain_permission(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: str
) -> None:
    """docs/authzen.md: reasons go to callers that may use ``authgate:evaluate.explain``;
    for a key that is its list, not everything its owner holds."""
    await admins.role("explainer", "authgate:evaluate", "authgate:evaluate.explain")
    await container.access.bind(CLI, "explainer", world)
    question = {
        "subject": {"type": "user", "id": "carol"},
        "action": {"name": "orders:read"},
        "resource": {"type": "order", "id": "1"},
    }
    plain = (await container.api_keys.create(CLI, world, permissions=["authgate:evaluate"])).key
    answer = await http.post(EVALUATION, json=question, headers={"X-API-Key": plain})
    assert answer.status_code == 200 and "context" not in answer.json(), answer.text
    both = ["authgate:evaluate", "authgate:evaluate.explain"]
    explaining = (await container.api_keys.create(CLI, world, permissions=both)).key
    answer = await http.post(EVALUATION, json=question, headers={"X-API-Key": explaining})
    assert "allowed by binding" in answer.json()["context"]["reason_admin"]["en"]
