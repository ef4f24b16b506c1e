"""The admin REST API's conventions, shown on roles (docs/admin-api.md): authentication
(RFC 6750), authorization by AuthGate's own engine, JSON errors, ``201`` + ``Location``,
``409``, ``404``, ETags with ``If-Match`` (RFC 9110 §8.8.3, §13.1.1), cursor pages that
stay stable while items are added, and no 5xx for any bad input.

The other admin test modules import :class:`Admins` and the fixtures from here. The HTTP
client and the one-RSA-key speed-up are the conformance suite's fixtures, imported by
name; hence F401 and F811 are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import delete, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.container import Container
from authgate.rbac.admin import AdminPolicy
from authgate.storage.models import AuditEventRow, GroupMemberRow, GroupRow
from tests.conformance.conftest import (
    Registered,
    _model_changes_seen_at_once,
    _one_rsa_key_per_run,
    client_credentials,
    http,
)

ROLES = "/admin/v1/roles"
GROUPS = "/admin/v1/groups"
BINDINGS = "/admin/v1/bindings"


class Admins:
    """Makes admin API callers: a client for AuthGate's own API (spec §4), bound to
    roles on scopes, with a fresh access token for it."""

    def __init__(self, container: Container, http: httpx.AsyncClient) -> None:
        self.container = container
        self.http = http
        self.audience = container.oauth.config.admin_audience
        self.count = 0

    async def client(self, *grants: tuple[str, str]) -> tuple[str, dict[str, str]]:
        """A client holding each (role, scope); returns its id and request headers."""
        self.count += 1
        client, secret = await self.container.clients.create(
            CLI,
            name=f"admin caller {self.count}",
            grant_types=["client_credentials"],
            audiences=[self.audience],
        )
        for role, scope in grants:
            await self.container.access.bind(CLI, role, f"client:{client.client_id}", scope)
        token = await client_credentials(
            self.http, Registered(client.client_id, secret), resource=self.audience
        )
        return client.client_id, {"Authorization": f"Bearer {token['access_token']}"}

    async def role(self, name: str, *permissions: str) -> str:
        await self.container.access.create_role(CLI, name, list(permissions))
        return name


@pytest.fixture(autouse=True)
async def _no_groups_left(container: Container) -> None:
    """The shared ``container`` fixture empties every table but the groups ones."""
    async with container.db.transaction() as session:
        await session.execute(delete(GroupMemberRow))
        await session.execute(delete(GroupRow))


@pytest.fixture
def admins(container: Container, http: httpx.AsyncClient) -> Admins:
    return Admins(container, http)


@pytest.fixture
async def root(admins: Admins) -> dict[str, str]:
    """The headers of an ``authgate-admin`` (``*`` on ``/``), as ``authgate init`` makes."""
    await admins.role("authgate-admin", "*")
    _, headers = await admins.client(("authgate-admin", "/"))
    return headers


async def events(container: Container, tag: AuditTag) -> list[AuditEventRow]:
    async with container.db.transaction() as session:
        rows = await session.execute(select(AuditEventRow).where(AuditEventRow.tag == tag.value))
        return list(rows.scalars())


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = dict(response.json())
    assert body["error"] == error, body
    assert body["error_description"]
    return body


async def walk(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        response = await http.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        next_url = page["next"]
    return items


# -- a resource's life: roles -------------------------------------------------------------


async def test_role_life_create_read_change_delete(
    http: httpx.AsyncClient, container: Container, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    created = await http.post(
        ROLES,
        json={"name": "clerk", "permissions": ["orders:write"], "inherits": ["reader"]},
        headers=root,
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == container.settings.issuer + ROLES + "/clerk"
    assert created.json() == {
        "name": "clerk",
        "permissions": ["orders:write"],
        "inherits": ["reader"],
    }
    tag = created.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/"), "a strong ETag"

    fetched = await http.get(location, headers=root)
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == tag
    assert fetched.json() == created.json()

    changed = await http.patch(
        location,
        json={"permissions": ["orders:write", "orders:delete"]},
        headers=root | {"If-Match": tag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"] == ["orders:write", "orders:delete"]
    assert changed.json()["inherits"] == ["reader"], "what PATCH does not name stays"
    assert changed.headers["etag"] != tag

    names = [r["name"] for r in await walk(http, ROLES, root)]
    assert names == sorted(names) and {"clerk", "reader"} <= set(names)

    removed = await http.delete(location, headers=root | {"If-Match": changed.headers["etag"]})
    assert removed.status_code == 204 and removed.content == b""
    assert_error(await http.get(location, headers=root), 404, "not_found")

    # Every change is audited with the caller as the actor.
    for tag_name in (AuditTag.ROLE_CREATED, AuditTag.ROLE_UPDATED, AuditTag.ROLE_DELETED):
        (event,) = [e for e in await events(container, tag_name) if e.subject == "role:clerk"]
        assert event.actor is not None and event.actor.startswith("client:")


async def test_a_duplicate_is_a_conflict_and_an_unknown_name_not_found(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    body = {"name": "reader", "permissions": ["orders:write"]}
    assert_error(await http.post(ROLES, json=body, headers=root), 409, "conflict")
    for method in ("GET", "PATCH", "DELETE"):
        response = await http.request(
            method, ROLES + "/nobody", json={"permissions": []}, headers=root
        )
        assert_error(response, 404, "not_found")
    unknown_parent = {"name": "child", "inherits": ["nobody"]}
    assert_error(await http.post(ROLES, json=unknown_parent, headers=root), 404, "not_found")
    reader = (await http.get(ROLES + "/reader", headers=root)).json()
    assert reader["permissions"] == ["orders:read"], "the conflict changed nothing"


# -- ETags and If-Match -------------------------------------------------------------------


@pytest.mark.parametrize(
    "if_match",
    [
        '"0000000000000000000000000000000000000000000000000000000000000000"',
        "W/{current}",
        '"stale", "older"',
    ],
    ids=["stale", "weak-never-matches", "none-of-a-list"],
)
async def test_a_stale_if_match_is_412_and_changes_nothing(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str], if_match: str
) -> None:
    """RFC 9110 §13.1.1: If-Match uses the strong comparison; a false condition means the
    method is not performed and the answer is 412."""
    await admins.role("reader", "orders:read")
    current = (await http.get(ROLES + "/reader", headers=root)).headers["etag"]
    header = {"If-Match": if_match.format(current=current)}
    patched = await http.patch(
        ROLES + "/reader", json={"permissions": ["orders:write"]}, headers=root | header
    )
    assert_error(patched, 412, "precondition_failed")
    assert_error(
        await http.delete(ROLES + "/reader", headers=root | header), 412, "precondition_failed"
    )
    after = await http.get(ROLES + "/reader", headers=root)
    assert after.json()["permissions"] == ["orders:read"]
    assert after.headers["etag"] == current


async def test_if_match_is_checked_again_where_the_change_is_written(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    root: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC 9110 §13.1.1 and §3.3 of RFC 7232's lost-update problem: another writer
    changing the role after the request's first look (here, while its escalation check
    runs) must still turn the request into a 412, not a silent overwrite."""
    await admins.role("reader", "orders:read")
    current = (await http.get(ROLES + "/reader", headers=root)).headers["etag"]
    check = AdminPolicy.check_role_change

    async def meanwhile(self: AdminPolicy, *args: Any, **kwargs: Any) -> None:
        await check(self, *args, **kwargs)
        await container.access.update_role(CLI, "reader", permissions=["orders:read", "x:y"])

    monkeypatch.setattr(AdminPolicy, "check_role_change", meanwhile)
    patched = await http.patch(
        ROLES + "/reader",
        json={"permissions": ["orders:write"]},
        headers=root | {"If-Match": current},
    )
    assert_error(patched, 412, "precondition_failed")
    monkeypatch.undo()
    after = await http.get(ROLES + "/reader", headers=root)
    assert after.json()["permissions"] == ["orders:read", "x:y"], "the other writer's change"


@pytest.mark.parametrize("action", ["disable", "delete"])
async def test_a_user_changed_meanwhile_is_neither_disabled_nor_deleted(
    http: httpx.AsyncClient,
    container: Container,
    root: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    action: str,
) -> None:
    """The same for acting on a user: another writer's change between the request's
    first look and its write (here during the takeover check) makes it a 412."""
    user = await container.users.create("dora", CLI)
    path = f"/admin/v1/users/{user.id}"
    current = (await http.get(path, headers=root)).headers["etag"]
    check = AdminPolicy.check_takeover

    async def meanwhile(self: AdminPolicy, *args: Any, **kwargs: Any) -> None:
        await check(self, *args, **kwargs)
        await container.users.update("dora", CLI, email="dora@example.com")

    monkeypatch.setattr(AdminPolicy, "check_takeover", meanwhile)
    method, target = ("POST", f"{path}/disable") if action == "disable" else ("DELETE", path)
    answer = await http.request(method, target, headers=root | {"If-Match": current})
    assert_error(answer, 412, "precondition_failed")
    monkeypatch.undo()
    kept = await container.users.get_by_id(user.id)
    assert kept is not None and not kept.disabled and kept.email == "dora@example.com"


async def test_if_match_names_the_current_etag_star_or_one_of_a_list(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    current = (await http.get(ROLES + "/reader", headers=root)).headers["etag"]
    for header, permission in (
        (f'"other", {current}', "orders:write"),
        ("*", "orders:delete"),
    ):
        response = await http.patch(
            ROLES + "/reader",
            json={"permissions": [permission]},
            headers=root | {"If-Match": header},
        )
        assert response.status_code == 200, response.text
    malformed = await http.patch(
        ROLES + "/reader", json={"permissions": []}, headers=root | {"If-Match": "abc"}
    )
    assert_error(malformed, 400, "invalid_request")


async def test_the_etag_is_the_sha256_of_the_canonical_json(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    import hashlib

    await admins.role("reader", "orders:read")
    response = await http.get(ROLES + "/reader", headers=root)
    canonical = json.dumps(response.json(), sort_keys=True, separators=(",", ":")).encode()
    assert response.headers["etag"] == f'"{hashlib.sha256(canonical).hexdigest()}"'
    assert response.content == canonical


# -- authentication and authorization -----------------------------------------------------


async def test_no_token_is_401_with_a_bare_challenge(http: httpx.AsyncClient) -> None:
    """RFC 6750 §3.1: a request without credentials gets no error code."""
    for method, path in (("GET", ROLES), ("POST", ROLES), ("GET", BINDINGS)):
        response = await http.request(method, path, content=b"not even json")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'


async def test_a_bad_token_is_401_invalid_token(
    http: httpx.AsyncClient, container: Container, admins: Admins, apis: None
) -> None:
    orders_client, secret = await container.clients.create(
        CLI,
        name="orders only",
        grant_types=["client_credentials"],
        audiences=["https://orders.example.com"],
    )
    other = await client_credentials(http, Registered(orders_client.client_id, secret))
    for token in ("garbage", other["access_token"], "x" * 10_000):
        response = await http.get(ROLES, headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "invalid_token")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_without_the_permission_the_answer_is_403_naming_it(
    http: httpx.AsyncClient, admins: Admins
) -> None:
    """The engine decides, not the token's scope: a token for the admin API whose client
    holds nothing is refused, with the permission and scope it lacked."""
    await admins.role("role-reader", "authgate:roles.read")
    _, nobody = await admins.client()
    _, reader = await admins.client(("role-reader", "/"))
    for headers, method, path, permission in (
        (nobody, "GET", ROLES, "authgate:roles.read"),
        (reader, "POST", ROLES, "authgate:roles.write"),
        (reader, "DELETE", ROLES + "/role-reader", "authgate:roles.write"),
        (nobody, "GET", GROUPS, "authgate:groups.read"),
        (nobody, "GET", BINDINGS, "authgate:bindings.read"),
        (nobody, "GET", "/admin/v1/users/anyone/attributes", "authgate:users.read"),
    ):
        response = await http.request(method, path, headers=headers, json={"name": "x"})
        body = assert_error(response, 403, "insufficient_scope")
        assert (body["permission"], body["scope"]) == (permission, "/")
        assert permission in body["error_description"]
        assert response.headers["www-authenticate"] == (
            f'Bearer realm="authgate", error="insufficient_scope", scope="{permission}"'
        )
    assert (await http.get(ROLES, headers=reader)).status_code == 200


# -- bad input ----------------------------------------------------------------------------

BAD_ROLE_BODIES = [
    pytest.param(b"{not json", id="not-json"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[]", id="an-array"),
    pytest.param(b'"reader"', id="a-string"),
    pytest.param(b'{"name": 5}', id="name-a-number"),
    pytest.param(b'{"name": ["x"]}', id="name-a-list"),
    pytest.param(b'{"name": null}', id="name-null"),
    pytest.param(b'{"permissions": ["a:b"]}', id="name-missing"),
    pytest.param(b'{"name": "x", "permissions": "a:b"}', id="permissions-a-string"),
    pytest.param(b'{"name": "x", "permissions": [1]}', id="permission-a-number"),
    pytest.param(b'{"name": "x", "permissions": ["no-colon"]}', id="permission-malformed"),
    pytest.param(b'{"name": "x", "colour": "red"}', id="unknown-member"),
    pytest.param(b'{"name": "a\\u0000b"}', id="nul-in-name"),
    pytest.param(b'{"name": "x", "permissions": ["a:\\u0000"]}', id="nul-in-permission"),
    pytest.param(b'{"name": "\\ud800"}', id="lone-surrogate"),
    pytest.param(b'{"name": "has space"}', id="space-in-name"),
    pytest.param(json.dumps({"name": "x" * 5000}).encode(), id="long-name"),
    pytest.param(
        json.dumps({"name": "x", "permissions": ["a:" + "b" * 250]}).encode(), id="long-permission"
    ),
    pytest.param(json.dumps({"name": "x", "permissions": ["a:b"] * 1001}).encode(), id="too-many"),
    pytest.param(b'{"name": "x", "inherits": ["x"]}', id="inherits-itself"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, id="deeply-nested"),
    pytest.param(b'{"name": NaN}', id="nan"),
]


@pytest.mark.parametrize("raw", BAD_ROLE_BODIES)
async def test_bad_bodies_are_400_and_create_nothing(
    http: httpx.AsyncClient, root: dict[str, str], raw: bytes
) -> None:
    before = (await http.get(ROLES, headers=root)).json()
    response = await http.post(
        ROLES, content=raw, headers=root | {"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")
    assert (await http.get(ROLES, headers=root)).json() == before


async def test_a_patch_must_change_something(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    for body in ({}, {"permissions": None}, {"name": "renamed"}):
        response = await http.patch(ROLES + "/reader", json=body, headers=root)
        assert_error(response, 400, "invalid_request")


async def test_an_oversized_body_is_413(http: httpx.AsyncClient, root: dict[str, str]) -> None:
    body = {"name": "big", "permissions": [f"res{i}:{'a' * 150}" for i in range(1000)]}
    response = await http.post(ROLES, json=body, headers=root)
    assert_error(response, 413, "request_too_large")


NAMES_NO_OBJECT_CAN_HAVE = [
    "%00",
    "a%00b",
    "%ED%A0%80",  # an encoded lone surrogate: not UTF-8
    "%FF",
    "x" * 3000,
    "%20padded%20",
    "..%2F..%2Fetc",
    "%E2%80%AE",
]


@pytest.mark.parametrize("name", NAMES_NO_OBJECT_CAN_HAVE)
async def test_odd_names_in_the_path_are_not_found_never_5xx(
    http: httpx.AsyncClient, root: dict[str, str], name: str
) -> None:
    for path in (
        f"{ROLES}/{name}",
        f"{GROUPS}/{name}",
        f"{GROUPS}/{name}/members",
        f"{GROUPS}/{name}/members/{name}",
        f"{BINDINGS}/{name}",
        f"/admin/v1/users/{name}/attributes",
    ):
        for method in ("GET", "PATCH", "DELETE", "POST"):
            response = await http.request(method, path, headers=root, json={"user": "x"})
            assert response.status_code in {400, 404, 405}, (method, path, response.text)
            if response.status_code != 405:
                assert response.json()["error"] in {"not_found", "invalid_request"}


# -- pages --------------------------------------------------------------------------------


async def test_a_list_is_paged_by_cursor_in_name_order(
    http: httpx.AsyncClient, container: Container, admins: Admins, root: dict[str, str]
) -> None:
    for i in range(7):
        await admins.role(f"r{i}", "orders:read")
    first = (await http.get(ROLES, params={"limit": 3}, headers=root)).json()
    assert [r["name"] for r in first["items"]] == ["authgate-admin", "r0", "r1"]
    assert first["next"].startswith(container.settings.issuer + ROLES + "?")
    assert "limit=3" in first["next"]
    names = [r["name"] for r in await walk(http, ROLES + "?limit=3", root)]
    assert names == ["authgate-admin", *(f"r{i}" for i in range(7))]
    everything = (await http.get(ROLES, headers=root)).json()
    assert len(everything["items"]) == 8 and everything["next"] is None, "default limit 50"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "1e3"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJhZnRlciI6IDV9"},  # {"after": 5}
        {"cursor": "W10"},  # []
        {"cursor": "x" * 3000},
        {"cursor": "eyJhZnRlciI6ICJhXHUwMDAwIn0"},  # {"after": "a\u0000"}
    ],
    ids=lambda p: "-".join(f"{k}={v[:12]}" for k, v in p.items()),
)
async def test_bad_page_parameters_are_400(
    http: httpx.AsyncClient, root: dict[str, str], params: dict[str, str]
) -> None:
    for path in (ROLES, GROUPS, BINDINGS):
        assert_error(await http.get(path, params=params, headers=root), 400, "invalid_request")
    assert (await http.get(ROLES, params={"limit": "500"}, headers=root)).status_code == 200


async def _add(container: Container, kind: str, name: str) -> None:
    if kind == "roles":
        await container.access.create_role(CLI, name, ["orders:read"])
    elif kind == "groups":
        await container.access.create_group(CLI, name)
    else:
        await container.access.bind(CLI, "page-role", f"group:{name}", "/")


SIZE = 30


@pytest.mark.parametrize("kind", ["roles", "groups", "bindings"])
async def test_walking_the_pages_while_items_are_added_sees_each_exactly_once(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], kind: str
) -> None:
    """Keyset pages: an item present when the walk starts is seen exactly once, however
    many items are added before and after the cursor meanwhile; none is seen twice.
    Items land behind and ahead of the cursor between pages, and a concurrent writer
    adds more while pages are being read."""
    names = [f"{p}{n:03}" for p in "fgh" for n in range(SIZE)]
    if kind == "bindings":
        await container.access.create_role(CLI, "page-role", ["orders:read"])
        for name in names:
            await container.access.create_group(CLI, name)
    for n in range(0, SIZE, 2):
        await _add(container, kind, f"g{n:03}")
    start = {item.get("name") or item["id"] for item in await walk(http, f"/admin/v1/{kind}", root)}

    async def walker() -> list[str]:
        seen: list[str] = []
        behind, ahead = iter(range(1, SIZE, 2)), iter(range(SIZE - 1, 0, -2))
        next_url: str | None = f"/admin/v1/{kind}?limit=4"
        while next_url is not None:
            page = (await http.get(next_url, headers=root)).json()
            seen.extend(item.get("name") or item["id"] for item in page["items"])
            next_url = page["next"]
            for numbers in (behind, ahead):
                n = next(numbers, None)
                if n is not None and f"g{n:03}" not in added:
                    added.add(f"g{n:03}")
                    await _add(container, kind, f"g{n:03}")
        return seen

    async def writer() -> None:
        for n in range(SIZE // 2):
            for prefix in "fh":
                await _add(container, kind, f"{prefix}{n:03}")
                await asyncio.sleep(0)

    added: set[str] = set()
    seen, _ = await asyncio.gather(walker(), writer())
    assert len(seen) == len(set(seen)), "an item was seen twice"
    assert start <= set(seen), f"skipped: {sorted(start - set(seen))}"
    assert len(set(seen)) > len(start), "the walk went on while items were added"


async def test_the_next_link_keeps_the_filters(
    http: httpx.AsyncClient, container: Container, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    await container.users.create("alice", CLI)
    for scope in ("org:a", "org:b", "org:c"):
        await container.access.bind(CLI, "reader", "user:alice", scope)
    page = (
        await http.get(BINDINGS, params={"member": "user:alice", "limit": 2}, headers=root)
    ).json()
    assert len(page["items"]) == 2 and "member=user%3Aalice" in page["next"]
    rest = (await http.get(page["next"], headers=root)).json()
    assert rest["next"] is None
    scopes = [b["scope"] for b in page["items"] + rest["items"]]
    assert sorted(scopes) == ["org:a", "org:b", "org:c"], "ordered by id, each once"


# -- the API is described ------------------------------------------------------------------


async def test_openapi_describes_the_admin_api(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        ROLES,
        ROLES + "/{name}",
        GROUPS + "/{name}/members",
        BINDINGS + "/{binding_id}",
        "/admin/v1/users/{user_id}/attributes",
    ):
        assert path in paths, path
    create = paths[ROLES]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(create["properties"]) == {"name", "permissions", "inherits"}


async def test_names_with_reserved_characters_round_trip_through_location(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    response = await http.post(ROLES, json={"name": "ops:on-call.v2"}, headers=root)
    assert response.status_code == 201
    location = response.headers["location"]
    assert location.endswith("/roles/" + quote("ops:on-call.v2", safe=""))
    assert (await http.get(location, headers=root)).json()["name"] == "ops:on-call.v2"


@pytest.fixture
async def apis(container: Container) -> AsyncIterator[None]:
    await container.apis.create(
        CLI, audience="https://orders.example.com", name="Orders", permissions=["orders:read"]
    )
    yield


async def test_repeated_if_match_fields_form_one_list(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    """RFC 9110 §5.3: two If-Match fields mean the same as one with both tags."""
    await admins.role("reader", "orders:read")
    current = (await http.get(ROLES + "/reader", headers=root)).headers["etag"]
    headers = [*root.items(), ("If-Match", '"other"'), ("If-Match", current)]
    response = await http.patch(
        ROLES + "/reader", json={"permissions": ["orders:write"]}, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_a_weak_tag_is_412_saying_weak_tags_never_match(
    http: httpx.AsyncClient, admins: Admins, root: dict[str, str]
) -> None:
    await admins.role("reader", "orders:read")
    current = (await http.get(ROLES + "/reader", headers=root)).headers["etag"]
    response = await http.patch(
        ROLES + "/reader",
        json={"permissions": ["orders:write"]},
        headers=root | {"If-Match": "W/" + current},
    )
    assert_error(response, 412, "precondition_failed")
    assert "weak" in response.json()["error_description"]


async def test_a_body_that_is_not_json_is_415(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    response = await http.post(
        ROLES,
        content=b'{"name": "plain", "permissions": []}',
        headers=root | {"Content-Type": "text/plain"},
    )
    assert_error(response, 415, "unsupported_media_type")
    assert (await http.get(ROLES + "/plain", headers=root)).status_code == 404
