"""Users through the admin API (docs/admin-api.md): their life, 400/404/409/412, pages
that stay stable while users are added, scope confinement (an ``org:acme`` admin manages
only what lives under ``org:acme``), no account takeover beyond what the caller holds,
and that disabling a user ends their sessions and tokens.

The HTTP client, the admin callers and the conventions' helpers come from the other test
modules, imported by name; hence F401 and F811 are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from authgate.accounts.login import AuthenticationFailed
from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.container import Container
from authgate.storage.models import GroupMemberRow
from tests.conformance.conftest import (
    PASSWORD,
    WEB_REDIRECT,
    Browser,
    Registered,
    _model_changes_seen_at_once,
    _one_rsa_key_per_run,
    alice,
    apis,
    browser,
    code_flow,
    http,
    introspect,
    resource_server,
    webapp,
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

USERS = "/admin/v1/users"


async def _count(container: Container) -> int:
    return len(await container.users.list(1000))


@pytest.fixture
async def acme(admins: Admins) -> dict[str, str]:
    """An administrator of users bound at ``org:acme`` only."""
    await admins.role("user-admin", "authgate:users.read", "authgate:users.write")
    _, headers = await admins.client(("user-admin", "org:acme"))
    return headers


@pytest.fixture
async def town(container: Container) -> dict[str, str]:
    """Users living at various scopes, by scope → id."""
    ids = {}
    for name, scope in (
        ("ann", "org:acme"),
        ("tom", "org:acme/team:a"),
        ("olga", "org:other"),
        ("rita", "/"),
        ("carl", "org:acmecorp"),
    ):
        ids[scope] = (await container.users.create(name, CLI, scope=scope)).id
    return ids


# -- life ---------------------------------------------------------------------------------


async def test_user_life_create_read_change_disable_delete(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    created = await http.post(
        USERS,
        json={
            "username": "Alice",
            "email": "alice@example.com",
            "attributes": {"department": "sales"},
            "scope": "org:acme",
            "password": PASSWORD,
        },
        headers=root,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "Alice" and user["scope"] == "org:acme"
    assert user["attributes"] == {"department": "sales"} and not user["disabled"]
    assert "password" not in created.text and PASSWORD not in created.text
    issuer = container.settings.issuer.rstrip("/")
    assert created.headers["location"] == f"{issuer}{USERS}/{user['id']}"
    assert created.headers["cache-control"] == "no-store"

    read = await http.get(created.headers["location"], headers=root)
    assert read.json() == user and read.headers["etag"] == created.headers["etag"]
    assert (await http.get(f"{USERS}/alice", headers=root)).json() == user  # by username

    changed = await http.patch(
        f"{USERS}/{user['id']}",
        json={
            "email": "a@example.org",
            "attributes": {"set": {"level": 3}, "unset": ["department"]},
            "scope": "org:acme/team:a",
        },
        headers={**root, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "a@example.org"
    assert changed.json()["attributes"] == {"level": 3}
    assert changed.json()["scope"] == "org:acme/team:a"
    assert changed.headers["etag"] != read.headers["etag"]

    disabled = await http.post(f"{USERS}/{user['id']}/disable", headers=root)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    with pytest.raises(AuthenticationFailed):
        await container.login.check_password("alice", PASSWORD, CLI)
    enabled = await http.post(f"{USERS}/{user['id']}/enable", headers=root)
    assert enabled.json()["disabled"] is False
    await container.login.check_password("alice", PASSWORD, CLI)

    assert (await http.delete(f"{USERS}/{user['id']}", headers=root)).status_code == 204
    assert_error(await http.get(f"{USERS}/{user['id']}", headers=root), 404, "not_found")

    for tag in (AuditTag.USER_CREATED, AuditTag.USER_UPDATED, AuditTag.USER_DISABLED):
        assert [e.subject for e in await events(container, tag)] == [f"user:{user['id']}"]
    updated = (await events(container, AuditTag.USER_UPDATED))[0]
    assert sorted(updated.details["changed"]) == ["department", "email", "level", "scope"]


async def test_a_duplicate_username_is_409(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    await container.users.create("bob", CLI)
    for name in ("bob", "BOB", " bob "):
        response = await http.post(USERS, json={"username": name}, headers=root)
        assert_error(response, 409, "conflict")
    assert await _count(container) == 1


BAD_USER_BODIES = [
    pytest.param(b"{}", id="username-missing"),
    pytest.param(b'{"username": 5}', id="username-a-number"),
    pytest.param(b'{"username": "x", "colour": "red"}', id="unknown-member"),
    pytest.param(b'{"username": "x", "email": "not-an-address"}', id="bad-email"),
    pytest.param(b'{"username": "x", "scope": "acme"}', id="scope-not-a-path"),
    pytest.param(b'{"username": "x", "scope": ""}', id="scope-empty"),
    pytest.param(b'{"username": "x", "password": "short"}', id="password-too-short"),
    pytest.param(b'{"username": "x", "password": 12345678901234}', id="password-a-number"),
    pytest.param(b'{"username": "x", "attributes": {"1bad": "v"}}', id="bad-attribute-name"),
    pytest.param(b'{"username": "x", "attributes": {"a": [1]}}', id="attribute-a-list"),
    pytest.param(b'{"username": "a\\u0000b"}', id="nul-in-username"),
    pytest.param(json.dumps({"username": "x" * 400}).encode(), id="long-username"),
    pytest.param(
        json.dumps({"username": "x", "attributes": {f"a{n}": n for n in range(65)}}).encode(),
        id="too-many-attributes",
    ),
]


@pytest.mark.parametrize("raw", BAD_USER_BODIES)
async def test_bad_user_bodies_are_400_and_create_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], raw: bytes
) -> None:
    response = await http.post(
        USERS, content=raw, headers={**root, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")
    assert await _count(container) == 0
    assert await events(container, AuditTag.USER_CREATED) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"email": "nope"}, id="bad-email"),
        pytest.param({"scope": "no slash"}, id="bad-scope"),
        pytest.param({"attributes": {"set": {}, "unset": []}}, id="empty-attribute-change"),
        pytest.param({"attributes": {"unset": ["missing"]}}, id="unset-missing-attribute"),
        pytest.param({"username": "renamed"}, id="username-cannot-change"),
    ],
)
async def test_bad_changes_are_400_and_change_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], body: dict[str, object]
) -> None:
    user = await container.users.create("dora", CLI, email="dora@example.com")
    response = await http.patch(f"{USERS}/{user.id}", json=body, headers=root)
    assert_error(response, 400, "invalid_request")
    assert await container.users.get("dora") == user


async def test_unknown_users_are_404_everywhere(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    for method, path, body in (
        ("GET", f"{USERS}/nobody", None),
        ("PATCH", f"{USERS}/nobody", {"email": "n@example.com"}),
        ("DELETE", f"{USERS}/nobody", None),
        ("POST", f"{USERS}/nobody/disable", None),
        ("POST", f"{USERS}/nobody/enable", None),
        ("POST", f"{USERS}/nobody/password", {"generate": True}),
        ("DELETE", f"{USERS}/nobody/mfa", None),
        ("GET", f"{USERS}/nobody/sessions", None),
        ("DELETE", f"{USERS}/nobody/sessions", None),
        ("GET", f"{USERS}/%00/sessions", None),
    ):
        response = await http.request(method, path, json=body, headers=root)
        assert_error(response, 404, "not_found")


async def test_a_stale_if_match_is_412_and_changes_nothing(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    user = await container.users.create("erin", CLI)
    old = (await http.get(f"{USERS}/{user.id}", headers=root)).headers["etag"]
    await container.users.update("erin", CLI, email="erin@example.com")
    for method, path, body in (
        ("PATCH", f"{USERS}/{user.id}", {"email": "x@example.com"}),
        ("POST", f"{USERS}/{user.id}/disable", None),
        ("DELETE", f"{USERS}/{user.id}", None),
    ):
        response = await http.request(method, path, json=body, headers={**root, "If-Match": old})
        assert_error(response, 412, "precondition_failed")
    current = await container.users.get("erin")
    assert current.email == "erin@example.com" and not current.disabled


# -- lists --------------------------------------------------------------------------------


async def test_the_list_filters_by_prefix_and_by_scope_and_below(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], town: dict[str, str]
) -> None:
    await container.users.create("annabel", CLI, email="Boss@Example.com", scope="org:other")
    names = [u["username"] for u in await walk(http, f"{USERS}?q=ANN&limit=1", root)]
    assert sorted(names) == ["ann", "annabel"]
    by_mail = await walk(http, f"{USERS}?q=boss%40example", root)
    assert [u["username"] for u in by_mail] == ["annabel"]
    acme = await walk(http, f"{USERS}?scope=org:acme", root)
    assert sorted(u["username"] for u in acme) == ["ann", "tom"]  # not org:acmecorp
    assert len(await walk(http, USERS, root)) == 6
    assert_error(
        await http.get(USERS, params={"scope": "bad"}, headers=root), 400, "invalid_request"
    )
    assert_error(await http.get(USERS, params={"q": "a\x01"}, headers=root), 400, "invalid_request")


async def test_walking_the_pages_while_users_are_added_sees_each_exactly_once(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    """Keyset pages by id: every user present at the start is seen once, however many
    are added before and after the cursor while the pages are read."""
    for n in range(0, 30, 2):
        await container.users.create(f"g{n:03}", CLI, user_id=f"g{n:03}")
    start = {u["id"] for u in await walk(http, USERS, root)}

    async def walker() -> list[str]:
        seen: list[str] = []
        next_url: str | None = f"{USERS}?limit=4"
        while next_url is not None:
            page = (await http.get(next_url, headers=root)).json()
            seen.extend(u["id"] for u in page["items"])
            next_url = page["next"]
            await asyncio.sleep(0)
        return seen

    async def writer() -> None:
        for n in range(15):
            for prefix in "fh":
                await container.users.create(f"{prefix}{n:03}", CLI, user_id=f"{prefix}{n:03}")
                await asyncio.sleep(0)

    seen, _ = await asyncio.gather(walker(), writer())
    assert len(seen) == len(set(seen)), "a user was seen twice"
    assert start <= set(seen), f"skipped: {sorted(start - set(seen))}"
    assert seen == sorted(seen), "in id order"


# -- passwords, second factors and sessions -----------------------------------------------


async def test_setting_and_generating_a_password(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    user = await container.users.create("fay", CLI)
    path = f"{USERS}/{user.id}/password"
    assert (await http.post(path, json={"password": PASSWORD}, headers=root)).status_code == 204
    await container.login.check_password("fay", PASSWORD, CLI)

    generated = await http.post(path, json={"generate": True}, headers=root)
    assert generated.status_code == 200 and generated.headers["cache-control"] == "no-store"
    password = generated.json()["password"]
    assert len(password) >= 20 and generated.json()["user"] == user.id
    await container.login.check_password("fay", password, CLI)
    with pytest.raises(AuthenticationFailed):
        await container.login.check_password("fay", PASSWORD, CLI)

    for body in ({"password": "short"}, {}, {"password": PASSWORD, "generate": True}):
        assert_error(await http.post(path, json=body, headers=root), 400, "invalid_request")
    await container.login.check_password("fay", password, CLI)  # unchanged
    audited = await events(container, AuditTag.USER_UPDATED)
    assert [e.details["changed"] for e in audited] == [["password"], ["password"]]
    assert all(password not in json.dumps(e.details) for e in audited)


async def test_resetting_the_second_factor_makes_the_user_enrol_again(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    user = await container.users.create("gus", CLI, password=PASSWORD)
    await container.mfa.activate(user.id, container.mfa.new_secret(), CLI)
    assert (await container.login.check_password("gus", PASSWORD, CLI)).needs_mfa
    assert (await http.get(f"{USERS}/{user.id}", headers=root)).json()["mfa_enabled"] is True

    assert (await http.delete(f"{USERS}/{user.id}/mfa", headers=root)).status_code == 204
    assert (await http.get(f"{USERS}/{user.id}", headers=root)).json()["mfa_enabled"] is False
    assert not (await container.login.check_password("gus", PASSWORD, CLI)).needs_mfa
    assert await container.mfa.remaining_recovery_codes(user.id) == 0
    assert [e.subject for e in await events(container, AuditTag.MFA_RESET)] == [f"user:{user.id}"]


async def test_sessions_are_listed_without_secrets_and_ended(
    http: httpx.AsyncClient,
    container: Container,
    root: dict[str, str],
    alice: str,
    browser: Browser,
) -> None:
    await browser.login()
    cookies = [c.value for c in http.cookies.jar]
    listed = await http.get(f"{USERS}/{alice}/sessions", headers=root)
    assert listed.status_code == 200, listed.text
    [session] = listed.json()["items"]
    assert session["amr"] == ["pwd"] and session["stage"] == "active"
    assert len(session["id"]) == 16
    assert not any(value and value in listed.text for value in cookies), "a secret leaked"

    assert (await http.delete(f"{USERS}/{alice}/sessions", headers=root)).status_code == 204
    assert (await http.get(f"{USERS}/{alice}/sessions", headers=root)).json()["items"] == []
    assert (await http.get("/account")).status_code in {302, 303}, "signed out"
    [ended] = await events(container, AuditTag.USER_SESSIONS_ENDED)
    assert ended.details == {"sessions_ended": 1}


async def test_disabling_a_user_ends_their_sessions_and_tokens(
    http: httpx.AsyncClient,
    root: dict[str, str],
    alice: str,
    browser: Browser,
    webapp: Registered,
    resource_server: Registered,
) -> None:
    """Spec §7: a disabled user's sessions end and their tokens introspect inactive
    (RFC 7662 §2.2)."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT)
    assert (await introspect(http, resource_server, tokens["access_token"]))["active"]
    assert (await http.get(f"{USERS}/{alice}/sessions", headers=root)).json()["items"]

    assert (await http.post(f"{USERS}/{alice}/disable", headers=root)).status_code == 200
    assert (await http.get(f"{USERS}/{alice}/sessions", headers=root)).json()["items"] == []
    for token in (tokens["access_token"], tokens.get("refresh_token")):
        if token is None:
            continue
        assert (await introspect(http, resource_server, token)) == {"active": False}


# -- scope confinement --------------------------------------------------------------------


async def test_a_scoped_admin_sees_and_changes_only_users_under_their_scope(
    http: httpx.AsyncClient, container: Container, acme: dict[str, str], town: dict[str, str]
) -> None:
    for scope in ("org:acme", "org:acme/team:a"):
        user = town[scope]
        assert (await http.get(f"{USERS}/{user}", headers=acme)).status_code == 200
        response = await http.patch(
            f"{USERS}/{user}", json={"scope": f"{scope}/team:z"}, headers=acme
        )
        assert response.status_code == 200, response.text
        assert (await http.post(f"{USERS}/{user}/disable", headers=acme)).status_code == 200
        assert (await http.get(f"{USERS}/{user}/sessions", headers=acme)).status_code == 200
    for scope in ("org:other", "/", "org:acmecorp"):
        user = town[scope]
        for method, path, body in (
            ("GET", f"{USERS}/{user}", None),
            ("PATCH", f"{USERS}/{user}", {"email": "x@acme.example"}),
            ("DELETE", f"{USERS}/{user}", None),
            ("POST", f"{USERS}/{user}/disable", None),
            ("POST", f"{USERS}/{user}/password", {"generate": True}),
            ("DELETE", f"{USERS}/{user}/mfa", None),
            ("GET", f"{USERS}/{user}/sessions", None),
            ("DELETE", f"{USERS}/{user}/sessions", None),
        ):
            response = await http.request(method, path, json=body, headers=acme)
            assert_error(response, 404, "not_found")
        unchanged = await container.users.get_by_id(user)
        assert unchanged is not None and unchanged.email is None and not unchanged.disabled

    listed = await walk(http, f"{USERS}?scope=org:acme", acme)
    assert sorted(u["scope"] for u in listed) == ["org:acme/team:a/team:z", "org:acme/team:z"]
    for scope in (None, "org:other", "org:acmecorp"):
        params = {"scope": scope} if scope else {}
        body = assert_error(
            await http.get(USERS, params=params, headers=acme), 403, "insufficient_scope"
        )
        assert body["scope"] == (scope or "/")


async def test_reading_is_not_changing(
    http: httpx.AsyncClient, container: Container, admins: Admins, town: dict[str, str]
) -> None:
    await admins.role("user-reader", "authgate:users.read")
    _, reader = await admins.client(("user-reader", "org:acme"))
    user = town["org:acme"]
    assert (await http.get(f"{USERS}/{user}", headers=reader)).status_code == 200
    for method, path, body in (
        ("PATCH", f"{USERS}/{user}", {"email": "x@acme.example"}),
        ("POST", f"{USERS}/{user}/disable", None),
        ("DELETE", f"{USERS}/{user}/sessions", None),
    ):
        refused = await http.request(method, path, json=body, headers=reader)
        found = assert_error(refused, 403, "insufficient_scope")
        assert (found["permission"], found["scope"]) == ("authgate:users.write", "org:acme")
    unchanged = await container.users.get("ann")
    assert unchanged.email is None and not unchanged.disabled
    assert_error(await http.get(f"{USERS}/{town['org:other']}", headers=reader), 404, "not_found")


async def test_a_scoped_admin_creates_and_moves_users_only_within_their_scope(
    http: httpx.AsyncClient, container: Container, acme: dict[str, str], town: dict[str, str]
) -> None:
    for scope in ("/", "org:other", "org:acmecorp"):
        response = await http.post(USERS, json={"username": "mal", "scope": scope}, headers=acme)
        body = assert_error(response, 403, "insufficient_scope")
        assert (body["permission"], body["scope"]) == ("authgate:users.write", scope)
    assert_error(
        await http.post(USERS, json={"username": "mal"}, headers=acme), 403, "insufficient_scope"
    )
    assert await _count(container) == len(town)

    made = await http.post(
        USERS, json={"username": "nia", "scope": "org:acme/team:b"}, headers=acme
    )
    assert made.status_code == 201, made.text

    user = town["org:acme"]
    for scope in ("/", "org:other"):
        response = await http.patch(f"{USERS}/{user}", json={"scope": scope}, headers=acme)
        assert_error(response, 403, "insufficient_scope")
    still = await container.users.get_by_id(user)
    assert still is not None and still.scope == "org:acme"
    inward = await http.patch(f"{USERS}/{user}", json={"scope": "org:acme/team:a"}, headers=acme)
    assert inward.status_code == 200 and inward.json()["scope"] == "org:acme/team:a"


async def test_attributes_feed_conditions_everywhere_so_changing_them_needs_the_root(
    http: httpx.AsyncClient, container: Container, acme: dict[str, str], town: dict[str, str]
) -> None:
    user = town["org:acme"]
    change = {"attributes": {"set": {"clearance": "top"}}}
    body = assert_error(
        await http.patch(f"{USERS}/{user}", json=change, headers=acme), 403, "insufficient_scope"
    )
    assert (body["permission"], body["scope"]) == ("authgate:users.write", "/")
    made = await http.post(
        USERS,
        json={"username": "ivy", "scope": "org:acme", "attributes": {"clearance": "top"}},
        headers=acme,
    )
    assert_error(made, 403, "insufficient_scope")
    found = await container.users.get_by_id(user)
    assert found is not None and found.attributes == {}


async def test_taking_over_an_account_needs_everything_it_holds(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: dict[str, str],
    town: dict[str, str],
) -> None:
    """Setting a password or removing the second factor lets the caller act as the user:
    an ``org:acme`` admin cannot do it to an ``org:acme`` user who holds more elsewhere,
    directly or through a group."""
    boss = town["org:acme"]
    await admins.role("orders-boss", "orders:delete")
    await container.access.bind(CLI, "orders-boss", f"user:{boss}", "/")
    worker = town["org:acme/team:a"]
    await container.access.create_group(CLI, "auditors", members=[worker])
    await container.access.bind(CLI, "orders-boss", "group:auditors", "org:other")
    for user, scope in ((boss, "/"), (worker, "org:other")):
        for method, path, body in (
            ("POST", f"{USERS}/{user}/password", {"generate": True}),
            ("POST", f"{USERS}/{user}/password", {"password": PASSWORD}),
            ("DELETE", f"{USERS}/{user}/mfa", None),
        ):
            response = await http.request(method, path, json=body, headers=acme)
            refused = assert_error(response, 403, "privilege_escalation")
            assert (refused["permission"], refused["scope"]) == ("orders:delete", scope)
    assert await events(container, AuditTag.USER_UPDATED) == []
    assert await events(container, AuditTag.MFA_RESET) == []

    plain = await container.users.create("pat", CLI, scope="org:acme")
    response = await http.post(
        f"{USERS}/{plain.id}/password", json={"generate": True}, headers=acme
    )
    assert response.status_code == 200, response.text


async def test_acting_against_an_account_needs_everything_it_holds(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: dict[str, str],
    town: dict[str, str],
) -> None:
    """An ``org:acme`` admin cannot lock out an ``org:acme`` user who holds more
    elsewhere: disabling, enabling, deleting or signing them out is refused, as taking
    the account over is."""
    boss = town["org:acme"]
    await admins.role("orders-boss", "orders:delete")
    await container.access.bind(CLI, "orders-boss", f"user:{boss}", "/")
    for method, path in (
        ("POST", f"{USERS}/{boss}/disable"),
        ("DELETE", f"{USERS}/{boss}/sessions"),
        ("DELETE", f"{USERS}/{boss}"),
    ):
        refused = assert_error(
            await http.request(method, path, headers=acme), 403, "privilege_escalation"
        )
        assert (refused["permission"], refused["scope"]) == ("orders:delete", "/")
    found = await container.users.get_by_id(boss)
    assert found is not None and not found.disabled
    assert await events(container, AuditTag.USER_DISABLED) == []
    await container.users.set_disabled(found.username, True, CLI)
    assert_error(
        await http.post(f"{USERS}/{boss}/enable", headers=acme), 403, "privilege_escalation"
    )
    plain = town["org:acme/team:a"]
    assert (await http.post(f"{USERS}/{plain}/disable", headers=acme)).status_code == 200


async def test_the_email_feeds_conditions_everywhere_so_changing_it_needs_the_root(
    http: httpx.AsyncClient, container: Container, acme: dict[str, str], town: dict[str, str]
) -> None:
    """A condition such as ``subject.properties.email.endsWith("@finance.example")`` on a
    binding at ``/`` reads it: an ``org:acme`` admin must not be able to satisfy it."""
    user = town["org:acme"]
    change = {"email": "ann@finance.example"}
    body = assert_error(
        await http.patch(f"{USERS}/{user}", json=change, headers=acme), 403, "insufficient_scope"
    )
    assert (body["permission"], body["scope"]) == ("authgate:users.write", "/")
    found = await container.users.get_by_id(user)
    assert found is not None and found.email is None


async def test_the_takeover_rule_reads_group_membership_as_stored_now(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: dict[str, str],
    town: dict[str, str],
) -> None:
    """Another process's change may reach this one's decision index a poll later; the
    takeover rule reads the user's groups from the database, so a membership made
    elsewhere a moment ago already counts."""
    worker = town["org:acme/team:a"]
    await admins.role("orders-boss", "orders:delete")
    await container.access.create_group(CLI, "auditors")
    await container.access.bind(CLI, "orders-boss", "group:auditors", "org:other")
    await container.engine.index()  # built now, without the membership below
    async with container.db.transaction() as session:  # as another process would
        session.add(GroupMemberRow(group="auditors", user_id=worker))
    response = await http.post(f"{USERS}/{worker}/password", json={"generate": True}, headers=acme)
    refused = assert_error(response, 403, "privilege_escalation")
    assert (refused["permission"], refused["scope"]) == ("orders:delete", "org:other")
