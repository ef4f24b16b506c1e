"""OAuth clients through the admin API (docs/admin-api.md): their life with the secret
shown once, secret rotation with an overlap, 400/404/412, pages that stay stable while
clients are added, scope confinement, and no rotating the secret of a client that holds
more than the caller.

The HTTP client, the admin callers and the conventions' helpers come from the other test
modules, imported by name; hence F401 and F811 are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    ORDERS,
    Registered,
    _model_changes_seen_at_once,
    _one_rsa_key_per_run,
    apis,
    http,
    introspect,
    resource_server,
    token_request,
)
from tests.web.test_admin_api import (
    Admins,
    _no_groups_left,
    admins,
    assert_error,
    events,
    root,
    walk,
)

CLIENTS = "/admin/v1/clients"
SERVICE = {
    "name": "Order sync",
    "grant_types": ["client_credentials"],
    "audiences": [ORDERS],
}


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "resource": ORDERS}
    return await token_request(http, form, Registered(client_id, secret))


async def _names(container: Container) -> list[str]:
    return sorted(c.name for c in await container.clients.list())


@pytest.fixture
async def acme(admins: Admins) -> dict[str, str]:
    """An administrator of clients bound at ``org:acme`` only."""
    await admins.role("client-admin", "authgate:clients.read", "authgate:clients.write")
    _, headers = await admins.client(("client-admin", "org:acme"))
    return headers


@pytest.fixture
async def fleet(container: Container, apis: None) -> dict[str, tuple[str, str]]:
    """Clients living at various scopes: scope → (client_id, secret)."""
    made = {}
    for scope in ("org:acme", "org:acme/team:a", "org:other", "/", "org:acmecorp"):
        client, secret = await container.clients.create(
            CLI, name=f"svc {scope}", grant_types=["client_credentials"], scope=scope
        )
        assert secret is not None
        made[scope] = (client.client_id, secret)
    return made


# -- life ---------------------------------------------------------------------------------


async def test_client_life_secret_once_rotate_disable_delete(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    root: dict[str, str],
    apis: None,
    resource_server: Registered,
) -> None:
    created = await http.post(CLIENTS, json={**SERVICE, "scope": "org:acme"}, headers=root)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    client = created.json()
    secret = client.pop("client_secret")
    assert secret.startswith("agcs_") and client["scope"] == "org:acme"
    client_id = client["client_id"]
    issuer = container.settings.issuer.rstrip("/")
    assert created.headers["location"] == f"{issuer}{CLIENTS}/{client_id}"

    read = await http.get(f"{CLIENTS}/{client_id}", headers=root)
    assert read.json() == client and secret not in read.text
    assert read.headers["etag"] == created.headers["etag"], "the ETag never covers the secret"
    assert (await _token(http, client_id, secret)).status_code == 200

    changed = await http.patch(
        f"{CLIENTS}/{client_id}",
        json={"name": "Order sync 2", "access_token_ttl": "5m", "scopes": ["orders:read"]},
        headers={**root, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Order sync 2"
    assert changed.json()["access_token_ttl"] == 300
    assert changed.json()["scopes"] == ["orders:read"]

    rotated = await http.post(
        f"{CLIENTS}/{client_id}/rotate-secret", json={"overlap": "10m"}, headers=root
    )
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new = rotated.json()["client_secret"]
    assert rotated.json()["client_id"] == client_id and new != secret
    assert new not in (await http.get(f"{CLIENTS}/{client_id}", headers=root)).text
    for either in (secret, new):
        assert (await _token(http, client_id, either)).status_code == 200
    clock.advance(timedelta(minutes=11))
    assert (await _token(http, client_id, secret)).status_code == 401, "the overlap is over"
    token = (await _token(http, client_id, new)).json()["access_token"]

    disabled = await http.post(f"{CLIENTS}/{client_id}/disable", headers=root)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert (await _token(http, client_id, new)).status_code == 401
    assert (await introspect(http, resource_server, token)) == {"active": False}
    enabled = await http.post(f"{CLIENTS}/{client_id}/enable", headers=root)
    assert enabled.json()["disabled"] is False
    assert (await _token(http, client_id, new)).status_code == 200

    assert (await http.delete(f"{CLIENTS}/{client_id}", headers=root)).status_code == 204
    assert_error(await http.get(f"{CLIENTS}/{client_id}", headers=root), 404, "not_found")

    for tag in (
        AuditTag.CLIENT_CREATED,
        AuditTag.CLIENT_UPDATED,
        AuditTag.CLIENT_SECRET_ROTATED,
        AuditTag.CLIENT_DISABLED,
        AuditTag.CLIENT_ENABLED,
        AuditTag.CLIENT_DELETED,
    ):
        found = [e for e in await events(container, tag) if e.subject == f"client:{client_id}"]
        assert len(found) == 1, tag
        assert secret not in json.dumps(found[0].details) and new not in json.dumps(
            found[0].details
        )


async def test_a_public_client_gets_no_secret(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    created = await http.post(
        CLIENTS,
        json={
            "name": "Shop app",
            "public": True,
            "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code"],
        },
        headers=root,
    )
    assert created.status_code == 201, created.text
    assert "client_secret" not in created.json() and created.json()["auth_method"] == "none"
    rotated = await http.post(
        f"{CLIENTS}/{created.json()['client_id']}/rotate-secret", headers=root
    )
    assert_error(rotated, 400, "invalid_request")


async def test_rotating_without_a_body_stops_the_old_secret_at_once(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], apis: None
) -> None:
    client, secret = await container.clients.create(CLI, **SERVICE)  # type: ignore[arg-type]
    assert secret is not None
    rotated = await http.post(f"{CLIENTS}/{client.client_id}/rotate-secret", headers=root)
    assert rotated.status_code == 200, rotated.text
    assert (await _token(http, client.client_id, secret)).status_code == 401
    new = rotated.json()["client_secret"]
    assert (await _token(http, client.client_id, new)).status_code == 200
    for overlap in ("soon", -5, "5y", True):
        response = await http.post(
            f"{CLIENTS}/{client.client_id}/rotate-secret", json={"overlap": overlap}, headers=root
        )
        assert_error(response, 400, "invalid_request")
    assert (await _token(http, client.client_id, new)).status_code == 200


BAD_CLIENT_BODIES = [
    pytest.param(b"{}", id="name-missing"),
    pytest.param(b'{"name": 5}', id="name-a-number"),
    pytest.param(b'{"name": "x", "colour": "red"}', id="unknown-member"),
    pytest.param(b'{"name": "x", "grant_types": ["password"]}', id="unknown-grant"),
    pytest.param(b'{"name": "x", "grant_types": "client_credentials"}', id="grants-a-string"),
    pytest.param(b'{"name": "x", "auth_method": "magic"}', id="unknown-auth-method"),
    pytest.param(b'{"name": "x", "redirect_uris": ["not a uri"]}', id="bad-redirect-uri"),
    pytest.param(b'{"name": "x", "access_token_ttl": "forever"}', id="bad-ttl"),
    pytest.param(b'{"name": "x", "access_token_ttl": -1}', id="negative-ttl"),
    pytest.param(b'{"name": "x", "scope": "acme"}', id="scope-not-a-path"),
    pytest.param(b'{"name": "x", "scopes": "a b"}', id="scopes-a-string"),
    pytest.param(
        b'{"name": "x", "public": true, "auth_method": "client_secret_basic"}',
        id="public-with-secret",
    ),
    pytest.param(b'{"name": "x", "jwks": {"keys": [{"kty": "oct", "k": "AA"}]}}', id="secret-jwk"),
    pytest.param(b'{"name": "a\\u0000b"}', id="nul-in-name"),
    pytest.param(json.dumps({"name": "x" * 300}).encode(), id="long-name"),
]


@pytest.mark.parametrize("raw", BAD_CLIENT_BODIES)
async def test_bad_client_bodies_are_400_and_create_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], raw: bytes
) -> None:
    before = await _names(container)
    response = await http.post(
        CLIENTS, content=raw, headers={**root, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")
    assert await _names(container) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"public": True}, id="cannot-turn-public"),
        pytest.param({"grant_types": ["password"]}, id="unknown-grant"),
        pytest.param({"scope": "bad scope"}, id="bad-scope"),
        pytest.param({"client_id": "mine"}, id="client-id-cannot-change"),
    ],
)
async def test_bad_changes_are_400_and_change_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], body: dict[str, object]
) -> None:
    client, _ = await container.clients.create(CLI, name="steady")
    response = await http.patch(f"{CLIENTS}/{client.client_id}", json=body, headers=root)
    assert_error(response, 400, "invalid_request")
    assert await container.clients.get(client.client_id) == client


async def test_unknown_clients_are_404_everywhere(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    for method, path, body in (
        ("GET", f"{CLIENTS}/nobody", None),
        ("PATCH", f"{CLIENTS}/nobody", {"name": "x"}),
        ("DELETE", f"{CLIENTS}/nobody", None),
        ("POST", f"{CLIENTS}/nobody/disable", None),
        ("POST", f"{CLIENTS}/nobody/enable", None),
        ("POST", f"{CLIENTS}/nobody/rotate-secret", {"overlap": "1m"}),
        ("GET", f"{CLIENTS}/%7F", None),
        ("GET", f"{CLIENTS}/{'x' * 400}", None),
    ):
        response = await http.request(method, path, json=body, headers=root)
        assert_error(response, 404, "not_found")


async def test_a_stale_if_match_is_412_and_changes_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    client, secret = await container.clients.create(CLI, name="before")
    old = (await http.get(f"{CLIENTS}/{client.client_id}", headers=root)).headers["etag"]
    await container.clients.update(client.client_id, CLI, name="meanwhile")
    for method, path, body in (
        ("PATCH", f"{CLIENTS}/{client.client_id}", {"name": "late"}),
        ("POST", f"{CLIENTS}/{client.client_id}/disable", None),
        ("POST", f"{CLIENTS}/{client.client_id}/rotate-secret", {"overlap": 0}),
        ("DELETE", f"{CLIENTS}/{client.client_id}", None),
    ):
        response = await http.request(method, path, json=body, headers={**root, "If-Match": old})
        assert_error(response, 412, "precondition_failed")
    current = await container.clients.get(client.client_id)
    assert current is not None and current.name == "meanwhile" and not current.disabled
    assert secret and await container.clients.authenticate_secret(client.client_id, secret)


# -- lists --------------------------------------------------------------------------------


async def test_the_list_filters_by_name_prefix_and_by_scope_and_below(
    http: httpx.AsyncClient, root: dict[str, str], fleet: dict[str, tuple[str, str]]
) -> None:
    names = [c["name"] for c in await walk(http, f"{CLIENTS}?q=SVC%20ORG&limit=1", root)]
    assert sorted(names) == [
        "svc org:acme",
        "svc org:acme/team:a",
        "svc org:acmecorp",
        "svc org:other",
    ]
    acme = await walk(http, f"{CLIENTS}?scope=org:acme", root)
    assert sorted(c["scope"] for c in acme) == ["org:acme", "org:acme/team:a"]
    assert all("client_secret" not in c for c in await walk(http, CLIENTS, root))
    ids = [c["client_id"] for c in await walk(http, f"{CLIENTS}?limit=2", root)]
    assert len(ids) == len(set(ids)) == len(await walk(http, CLIENTS, root))


async def test_walking_the_pages_while_clients_are_added_sees_each_exactly_once(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    """Keyset pages by client_id: every client present at the start is seen once however
    many are registered while the pages are read (their random ids land on both sides of
    the cursor)."""
    for n in range(15):
        await container.clients.create(CLI, name=f"early {n}")
    start = {c["client_id"] for c in await walk(http, CLIENTS, root)}

    async def walker() -> list[str]:
        seen: list[str] = []
        next_url: str | None = f"{CLIENTS}?limit=3"
        while next_url is not None:
            page = (await http.get(next_url, headers=root)).json()
            seen.extend(c["client_id"] for c in page["items"])
            next_url = page["next"]
            await asyncio.sleep(0)
        return seen

    async def writer() -> None:
        for n in range(30):
            await container.clients.create(CLI, name=f"late {n}")
            await asyncio.sleep(0)

    seen, _ = await asyncio.gather(walker(), writer())
    assert len(seen) == len(set(seen)), "a client was seen twice"
    assert start <= set(seen), f"skipped: {sorted(start - set(seen))}"


# -- scope confinement and escalation -----------------------------------------------------


async def test_a_scoped_admin_sees_and_changes_only_clients_under_their_scope(
    http: httpx.AsyncClient,
    container: Container,
    acme: dict[str, str],
    fleet: dict[str, tuple[str, str]],
) -> None:
    for scope in ("org:acme", "org:acme/team:a"):
        client_id, _ = fleet[scope]
        assert (await http.get(f"{CLIENTS}/{client_id}", headers=acme)).status_code == 200
        renamed = await http.patch(f"{CLIENTS}/{client_id}", json={"name": "mine"}, headers=acme)
        assert renamed.status_code == 200, renamed.text
        rotated = await http.post(f"{CLIENTS}/{client_id}/rotate-secret", headers=acme)
        assert rotated.status_code == 200, rotated.text
    for scope in ("org:other", "/", "org:acmecorp"):
        client_id, secret = fleet[scope]
        for method, path, body in (
            ("GET", f"{CLIENTS}/{client_id}", None),
            ("PATCH", f"{CLIENTS}/{client_id}", {"name": "stolen"}),
            ("DELETE", f"{CLIENTS}/{client_id}", None),
            ("POST", f"{CLIENTS}/{client_id}/disable", None),
            ("POST", f"{CLIENTS}/{client_id}/rotate-secret", {"overlap": "1h"}),
        ):
            response = await http.request(method, path, json=body, headers=acme)
            assert_error(response, 404, "not_found")
        assert await container.clients.authenticate_secret(client_id, secret), "secret kept"
        found = await container.clients.get(client_id)
        assert found is not None and found.name == f"svc {scope}" and not found.disabled

    listed = await walk(http, f"{CLIENTS}?scope=org:acme", acme)
    assert sorted(c["scope"] for c in listed) == ["org:acme", "org:acme/team:a"]
    for scope in (None, "org:other", "/"):
        params = {"scope": scope} if scope else {}
        refused = await http.get(CLIENTS, params=params, headers=acme)
        assert assert_error(refused, 403, "insufficient_scope")["scope"] == (scope or "/")


async def test_a_scoped_admin_creates_and_moves_clients_only_within_their_scope(
    http: httpx.AsyncClient,
    container: Container,
    acme: dict[str, str],
    fleet: dict[str, tuple[str, str]],
) -> None:
    before = await _names(container)
    for scope in (None, "/", "org:other", "org:acmecorp"):
        body = {"name": "rogue", **({"scope": scope} if scope else {})}
        refused = assert_error(
            await http.post(CLIENTS, json=body, headers=acme), 403, "insufficient_scope"
        )
        assert (refused["permission"], refused["scope"]) == (
            "authgate:clients.write",
            scope or "/",
        )
    assert await _names(container) == before
    made = await http.post(CLIENTS, json={**SERVICE, "scope": "org:acme/team:b"}, headers=acme)
    assert made.status_code == 201 and made.json()["client_secret"]

    client_id, _ = fleet["org:acme"]
    for scope in ("/", "org:other"):
        moved = await http.patch(f"{CLIENTS}/{client_id}", json={"scope": scope}, headers=acme)
        assert_error(moved, 403, "insufficient_scope")
    found = await container.clients.get(client_id)
    assert found is not None and found.scope == "org:acme"
    inward = await http.patch(
        f"{CLIENTS}/{client_id}", json={"scope": "org:acme/team:a"}, headers=acme
    )
    assert inward.status_code == 200 and inward.json()["scope"] == "org:acme/team:a"


async def test_a_scoped_admin_cannot_take_over_a_client_holding_more(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: dict[str, str],
    fleet: dict[str, tuple[str, str]],
) -> None:
    """A client living under ``org:acme`` but bound to a role at ``/``: whoever gets its
    secret (or swaps its keys) acts with that role, so an ``org:acme`` admin may not."""
    client_id, secret = fleet["org:acme"]
    await admins.role("orders-boss", "orders:delete")
    await container.access.bind(CLI, "orders-boss", f"client:{client_id}", "/")
    jwks_uri = {"auth_method": "private_key_jwt", "jwks_uri": "https://keys.example.com/jwks"}
    for path, body in (
        (f"{CLIENTS}/{client_id}/rotate-secret", {"overlap": "1h"}),
        (f"{CLIENTS}/{client_id}", jwks_uri),
    ):
        method = "POST" if path.endswith("rotate-secret") else "PATCH"
        refused = await http.request(method, path, json=body, headers=acme)
        body = assert_error(refused, 403, "privilege_escalation")
        assert (body["permission"], body["scope"]) == ("orders:delete", "/")
    assert await container.clients.authenticate_secret(client_id, secret), "secret kept"
    assert await events(container, AuditTag.CLIENT_SECRET_ROTATED) == []
    renamed = await http.patch(f"{CLIENTS}/{client_id}", json={"name": "fine"}, headers=acme)
    assert renamed.status_code == 200, "what does not touch credentials stays allowed"


async def test_a_scoped_admin_cannot_lock_out_a_client_holding_more(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: dict[str, str],
    fleet: dict[str, tuple[str, str]],
) -> None:
    """Disabling or deleting a client that holds a role at ``/`` would lock out whoever
    runs it; enabling one hands its power back. None of it is an ``org:acme`` admin's."""
    client_id, secret = fleet["org:acme"]
    await admins.role("orders-boss", "orders:delete")
    await container.access.bind(CLI, "orders-boss", f"client:{client_id}", "/")
    for method, path in (
        ("POST", f"{CLIENTS}/{client_id}/disable"),
        ("DELETE", f"{CLIENTS}/{client_id}"),
    ):
        refused = assert_error(
            await http.request(method, path, headers=acme), 403, "privilege_escalation"
        )
        assert (refused["permission"], refused["scope"]) == ("orders:delete", "/")
    assert await container.clients.authenticate_secret(client_id, secret), "still enabled"
    await container.clients.set_disabled(client_id, True, CLI)
    enable = await http.post(f"{CLIENTS}/{client_id}/enable", headers=acme)
    assert_error(enable, 403, "privilege_escalation")
    plain_id, _ = fleet["org:acme/team:a"]
    assert (await http.post(f"{CLIENTS}/{plain_id}/disable", headers=acme)).status_code == 200


async def test_first_party_is_the_installations_to_give(
    http: httpx.AsyncClient,
    container: Container,
    acme: dict[str, str],
    root: dict[str, str],
    fleet: dict[str, tuple[str, str]],
) -> None:
    """A first-party client skips consent and may act for users on AuthGate's own API; an
    ``org:acme`` admin giving that to their client could reach any user who follows a
    link. It needs ``clients.write`` at ``/``."""
    web = {
        "name": "portal",
        "scope": "org:acme",
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://portal.example/cb"],
    }
    refused = assert_error(
        await http.post(CLIENTS, json=web | {"first_party": True}, headers=acme),
        403,
        "insufficient_scope",
    )
    assert (refused["permission"], refused["scope"]) == ("authgate:clients.write", "/")
    client_id, _ = fleet["org:acme"]
    patched = await http.patch(f"{CLIENTS}/{client_id}", json={"first_party": True}, headers=acme)
    assert_error(patched, 403, "insufficient_scope")
    found = await container.clients.get(client_id)
    assert found is not None and not found.first_party
    plain = await http.post(CLIENTS, json=web | {"first_party": False}, headers=acme)
    assert plain.status_code == 201, plain.text
    made = await http.post(CLIENTS, json=web | {"first_party": True}, headers=root)
    assert made.status_code == 201 and made.json()["first_party"] is True

    # A first-party client living under org:acme is still the installation's: whoever
    # could point its redirect URIs elsewhere, or hold its secret, would receive the
    # admin tokens of any user who follows a link (no consent screen).
    trusted = made.json()["client_id"]
    for method, path, body in (
        ("PATCH", f"{CLIENTS}/{trusted}", {"redirect_uris": ["https://evil.example/cb"]}),
        ("POST", f"{CLIENTS}/{trusted}/rotate-secret", {}),
        ("POST", f"{CLIENTS}/{trusted}/disable", None),
        ("DELETE", f"{CLIENTS}/{trusted}", None),
    ):
        refused = assert_error(
            await http.request(method, path, json=body, headers=acme), 403, "insufficient_scope"
        )
        assert (refused["permission"], refused["scope"]) == ("authgate:clients.write", "/")
    kept = await container.clients.get(trusted)
    assert kept is not None and kept.redirect_uris == ("https://portal.example/cb",)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"name": "x", "access_token_ttl": 10**20}),
        ("", {"name": "x", "refresh_token_ttl": 10**12}),
        ("/rotate-secret", {"overlap": 10**14}),
    ],
    ids=["access-ttl", "refresh-ttl", "overlap"],
)
async def test_huge_durations_are_refused_not_a_server_error(
    http: httpx.AsyncClient,
    root: dict[str, str],
    fleet: dict[str, tuple[str, str]],
    path: str,
    body: dict[str, object],
) -> None:
    """Spec §7: bad input is a 4xx that names the field, never a 5xx."""
    client_id, _ = fleet["/"]
    target = f"{CLIENTS}/{client_id}{path}" if path else CLIENTS
    response = await http.post(target, json=body, headers=root)
    assert response.status_code in (400, 422), response.text
    key = next(iter(k for k in body if k != "name"))
    assert key in response.json()["error_description"]
