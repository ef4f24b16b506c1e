"""The console's account, client and API actions over HTTP (in process): each is refused
as the admin API refuses it, without its CSRF token, or without the ticked confirmation
box, and a refused action changes nothing. A new client secret is shown on one page only."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from authgate.accounts.models import User
from authgate.apis.models import Api
from authgate.apis.service import ApiService
from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.log import AuditFilter
from authgate.clients.models import Client
from authgate.clients.service import ClientService
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.errors import AuthGateError
from authgate.rbac.models import Role
from authgate.rbac.service import AccessService
from authgate.web.app import create_app
from tests.web.conftest import PASSWORD, login

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
SECRET = re.compile(r'data-testid="new-client-secret">([^<]+)<')
USERS = ("authgate:users.read", "authgate:users.write")


@dataclass
class Admin:
    http: httpx.AsyncClient
    user: User

    async def csrf(self, path: str = "/console") -> str:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        match = CSRF.search(page.text)
        assert match
        return match.group(1)

    async def post(self, path: str, /, **fields: str) -> httpx.Response:
        fields.setdefault("csrf_token", await self.csrf())
        return await self.http.post(path, data=fields)


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """Requests to the issuer's own origin: the console's callback is an absolute URL."""
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    base = container.settings.issuer
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


async def _admin(
    container: Container, http: httpx.AsyncClient, grants: list[tuple[list[str], str]]
) -> Admin:
    """A user holding each (permissions, scope), signed in to the console."""
    user = await container.users.create("boss", CLI, password=PASSWORD)
    for n, (permissions, scope) in enumerate(grants):
        await container.access.create_role(CLI, f"console-test-{n}", permissions)
        await container.access.bind(CLI, f"console-test-{n}", f"user:{user.id}", scope)
    assert (await login(http, "boss", PASSWORD)).status_code == 303
    entered = await http.get("/console", follow_redirects=True)
    assert entered.status_code == 200, entered.text
    assert "Dashboard" in entered.text
    return Admin(http, user)


@pytest.fixture
async def target(container: Container) -> User:
    return await container.users.create("victim", CLI, password=PASSWORD + "-v")


async def test_a_scoped_administrator_cannot_disable_a_user_above_their_scope(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    admin = await _admin(
        container, http, [(["authgate:users.read"], "/"), (["authgate:users.write"], "org:acme")]
    )
    detail = await http.get(f"/console/users/{target.id}")
    assert detail.status_code == 200
    assert "Disable victim" not in detail.text  # no button they cannot use
    refused = await admin.post(f"/console/users/{target.id}/disable", confirm="yes")
    assert refused.status_code == 403
    assert "authgate:users.write" in refused.text
    assert not (await container.users.get("victim")).disabled
    ended = await admin.post(f"/console/users/{target.id}/sessions/end", confirm="yes")
    assert ended.status_code == 403


async def test_a_user_the_administrator_may_not_see_is_not_found(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    admin = await _admin(container, http, [(list(USERS), "org:acme")])
    refused = await admin.post(f"/console/users/{target.id}/disable", confirm="yes")
    assert refused.status_code == 404
    assert not (await container.users.get("victim")).disabled


async def test_actions_need_the_csrf_token_and_the_confirmation(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    admin = await _admin(container, http, [(["*"], "/")])
    forged = await http.post(f"/console/users/{target.id}/disable", data={"confirm": "yes"})
    assert forged.status_code == 403
    unconfirmed = await admin.post(f"/console/users/{target.id}/disable")
    assert unconfirmed.status_code == 400
    assert "Tick the confirmation box" in unconfirmed.text
    assert not (await container.users.get("victim")).disabled
    for action in ("sessions/end", "mfa/reset", "password"):
        answer = await admin.post(f"/console/users/{target.id}/{action}", password="x" * 20)
        assert answer.status_code == 400, action
    await container.login.check_password("victim", PASSWORD + "-v", CLI)  # unchanged


async def test_disable_then_enable_shows_the_result_once(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    admin = await _admin(container, http, [(["*"], "/")])
    done = await admin.post(f"/console/users/{target.id}/disable", confirm="yes")
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/users/{target.id}"
    assert (await container.users.get("victim")).disabled
    shown = await http.get(done.headers["location"])
    assert "victim is disabled" in shown.text
    again = await http.get(done.headers["location"])
    assert "victim is disabled" not in again.text  # the notice was for that one page
    assert (await admin.post(f"/console/users/{target.id}/enable")).status_code == 303
    assert not (await container.users.get("victim")).disabled


async def test_setting_a_password_needs_what_the_user_holds(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """Whoever sets the password acts as the user (``check_takeover``)."""
    await container.access.create_role(CLI, "orders-admin", ["orders:admin"])
    await container.access.bind(CLI, "orders-admin", f"user:{target.id}", "/")
    admin = await _admin(container, http, [(list(USERS), "/")])
    detail = await http.get(f"/console/users/{target.id}")
    assert "Set password" not in detail.text
    refused = await admin.post(
        f"/console/users/{target.id}/password", password="a-new-long-password", confirm="yes"
    )
    assert refused.status_code == 403
    assert "orders:admin" in refused.text
    await container.login.check_password("victim", PASSWORD + "-v", CLI)  # unchanged
    mfa = await admin.post(f"/console/users/{target.id}/mfa/reset", confirm="yes")
    assert mfa.status_code == 403


async def test_a_rotated_secret_is_shown_on_one_page_only(
    container: Container, http: httpx.AsyncClient
) -> None:
    client, _ = await container.clients.create(
        CLI, name="Billing", grant_types=["client_credentials"]
    )
    admin = await _admin(container, http, [(["*"], "/")])
    path = f"/console/clients/{client.client_id}/rotate-secret"
    unconfirmed = await admin.post(path)
    assert unconfirmed.status_code == 400
    rotated = await admin.post(path, confirm="yes")
    assert rotated.status_code == 303
    first = await http.get(rotated.headers["location"])
    secret = SECRET.search(first.text)
    assert secret and await container.clients.authenticate_secret(client.client_id, secret.group(1))
    reloaded = await http.get(rotated.headers["location"])
    assert SECRET.search(reloaded.text) is None
    where = AuditFilter(subject=f"client:{client.client_id}", tags=("client:secret-rotated",))
    assert len([e async for e in container.audit.export(where)]) == 1


async def test_a_kept_secret_dies_with_the_browser_session(
    container: Container, http: httpx.AsyncClient
) -> None:
    """The one-time result is bound to the administrator's browser session: its cookie,
    copied before the page showed it, shows nothing once that session has ended (a
    sign-out on a shared computer)."""
    client, _ = await container.clients.create(
        CLI, name="Billing", grant_types=["client_credentials"]
    )
    admin = await _admin(container, http, [(["*"], "/")])
    rotated = await admin.post(f"/console/clients/{client.client_id}/rotate-secret", confirm="yes")
    assert rotated.status_code == 303
    kept = http.cookies["authgate_console_result"]
    out = await admin.post("/console/logout")
    assert out.status_code == 303
    assert (await login(http, "boss", PASSWORD)).status_code == 303
    assert (await http.get("/console", follow_redirects=True)).status_code == 200
    http.cookies.set("authgate_console_result", kept)
    replayed = await http.get("/console/clients")
    assert replayed.status_code == 200
    assert SECRET.search(replayed.text) is None


async def test_registering_an_api_needs_apis_write(
    container: Container, http: httpx.AsyncClient
) -> None:
    admin = await _admin(container, http, [(["authgate:apis.read"], "/")])
    page = await http.get("/console/apis")
    assert page.status_code == 200
    assert "Register an API" not in page.text
    refused = await admin.post(
        "/console/apis", audience="https://orders.example", name="Orders", permissions="o:r"
    )
    assert refused.status_code == 403
    assert await container.apis.get("https://orders.example") is None


async def test_users_are_listed_a_page_at_a_time(
    container: Container, http: httpx.AsyncClient
) -> None:
    await _admin(container, http, [(["*"], "/")])
    for n in range(4):
        await container.users.create(f"paged-{n}", CLI)
    seen: list[str] = []
    url: str | None = "/console/users?q=paged-&limit=3"
    while url is not None:
        page = await http.get(url)
        assert page.status_code == 200
        seen += re.findall(r">(paged-\d)</a>", page.text)
        found = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == [f"paged-{n}" for n in range(4)]
    forged = await http.get("/console/users?cursor=not-a-cursor")
    assert forged.status_code == 400


async def test_a_scoped_auditor_reads_the_events_under_their_scope_only(
    container: Container, http: httpx.AsyncClient
) -> None:
    """``authgate:audit.read`` at ``org:acme`` shows the events of what lives there (the
    audit log records each event's scope), never those at ``/`` or ``org:acme-two``."""
    await _admin(container, http, [(["authgate:audit.read"], "org:acme")])
    await container.users.create("inside", CLI, scope="org:acme/team:a")
    await container.users.create("beside", CLI, scope="org:acme-two")
    await container.users.create("above", CLI)
    for refused in (
        "/console/audit",
        "/console/audit?scope=/",
        "/console/audit?scope=org:acme-two",
    ):
        assert (await http.get(refused)).status_code == 403, refused
    assert (await http.get("/console/audit/export")).status_code == 403
    page = await http.get("/console/audit", params={"scope": "org:acme", "tag": "user:created"})
    assert page.status_code == 200, page.text
    assert "org:acme/team:a" in page.text
    assert "org:acme-two" not in page.text
    exported = await http.get("/console/audit/export", params={"scope": "org:acme"})
    assert exported.status_code == 200
    scopes = {json.loads(line)["scope"] for line in exported.text.splitlines()}
    assert "org:acme/team:a" in scopes  # the user made there
    assert scopes <= {"org:acme", "org:acme/team:a"}  # and the auditor's own binding
    bad = await http.get("/console/audit", params={"scope": "org:acme/../x"})
    assert bad.status_code == 400


async def test_adding_permissions_never_drops_another_administrators_change(
    container: Container, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page sends the whole list back; a change made between its read and its write
    makes it refuse (409) instead of writing over that change."""
    admin = await _admin(container, http, [(["*"], "/")])
    audience = "https://orders.example"
    await container.apis.create(CLI, audience=audience, name="Orders", permissions=["o:read"])
    read = ApiService.get

    async def meanwhile(self: ApiService, wanted: str) -> Api | None:
        found = await read(self, wanted)
        await ApiService.update(self, CLI, wanted, permissions=["o:read", "o:audit"])
        return found

    monkeypatch.setattr(ApiService, "get", meanwhile)
    refused = await admin.post("/console/apis/permissions", audience=audience, permissions="o:x")
    monkeypatch.undo()
    assert refused.status_code == 409
    assert "changed meanwhile" in refused.text
    api = await container.apis.get(audience)
    assert api is not None and api.permissions == ("o:read", "o:audit")


async def test_a_binding_made_in_the_console_may_carry_a_condition(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """Spec §1: a binding applies only when its CEL condition holds; one that does not
    compile is refused with the reason and makes nothing."""
    admin = await _admin(container, http, [(["*"], "/")])
    await container.access.create_role(CLI, "owner-reader", ["docs:read"])
    member = f"user:{target.username}"
    broken = await admin.post(
        "/console/bindings", role="owner-reader", member=member, condition="resource.(("
    )
    assert broken.status_code == 400
    assert await container.access.list_bindings(member=member) == []
    made = await admin.post(
        "/console/bindings",
        role="owner-reader",
        member=member,
        scope="org:acme",
        condition="resource.properties.owner == subject.id",
    )
    assert made.status_code == 201, made.text
    assert "when the condition holds" in made.text
    (binding,) = await container.access.list_bindings(member=member)
    assert binding.condition == "resource.properties.owner == subject.id"
    engine = container.engine
    doc = "org:acme/doc:1"
    mine = await engine.check(
        "user", target.id, "docs:read", doc, resource={"properties": {"owner": target.id}}
    )
    theirs = await engine.check(
        "user", target.id, "docs:read", doc, resource={"properties": {"owner": "someone"}}
    )
    assert mine.allowed and not theirs.allowed


async def test_signing_keys_are_listed_and_rotated_by_who_may(
    container: Container, http: httpx.AsyncClient
) -> None:
    """``authgate:keys.read`` shows the keys (never private material); rotating needs
    ``keys.write`` and the ticked box, and is in the audit log."""
    admin = await _admin(container, http, [(["authgate:keys.read"], "/")])
    before = {info.kid for info in await container.keys.infos()}
    page = await http.get("/console/keys")
    assert page.status_code == 200
    assert all(kid in page.text for kid in before)
    assert "Rotate signing keys" not in page.text and '"d"' not in page.text
    refused = await admin.post("/console/keys/rotate", confirm="yes")
    assert refused.status_code == 403
    assert {info.kid for info in await container.keys.infos()} == before

    await container.access.create_role(CLI, "key-keeper", ["authgate:keys.write"])
    await container.access.bind(CLI, "key-keeper", f"user:{admin.user.id}", "/")
    unconfirmed = await admin.post("/console/keys/rotate")
    assert unconfirmed.status_code == 400
    done = await admin.post("/console/keys/rotate", confirm="yes")
    assert done.status_code == 303
    made = {info.kid for info in await container.keys.infos()} - before
    assert made, "new keys for every algorithm"
    shown = await http.get("/console/keys")
    assert all(kid in shown.text for kid in made)
    rotated = [
        e async for e in container.audit.export(AuditFilter(tags=("key:rotated", "key:created")))
    ]
    assert any(e.actor == f"user:{admin.user.id}" for e in rotated)


async def test_deleting_users_clients_roles_and_groups(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """Each delete asks for the ticked box and the admin API's permission; a user or
    client holding more than the administrator cannot be deleted by them; the built-in
    administrator role cannot be deleted at all."""
    admin = await _admin(
        container,
        http,
        [
            (list(USERS), "/"),
            (["authgate:roles.read", "authgate:roles.write"], "/"),
            (["authgate:groups.write"], "/"),
        ],
    )
    await container.access.create_role(CLI, "auditor", ["ledger:read"])
    await container.access.bind(CLI, "auditor", f"user:{target.id}", "/")
    refused = await admin.post(f"/console/users/{target.id}/delete", confirm="yes")
    assert refused.status_code == 403, "target holds ledger:read, the admin does not"
    assert await container.users.get_by_id(target.id) is not None

    plain = await container.users.create("plain", CLI)
    assert (await admin.post(f"/console/users/{plain.id}/delete")).status_code == 400
    gone = await admin.post(f"/console/users/{plain.id}/delete", confirm="yes")
    assert gone.status_code == 303 and gone.headers["location"] == "/console/users"
    assert await container.users.get_by_id(plain.id) is None

    await container.access.create_group(CLI, "ops")
    assert (await admin.post("/console/groups/ops/delete", confirm="yes")).status_code == 303
    assert await container.access.list_groups(None, 10) == []
    assert (await admin.post("/console/roles/auditor/delete", confirm="yes")).status_code == 303
    assert await container.access.list_bindings(member=f"user:{target.id}") == []
    builtin = await admin.post("/console/roles/authgate-admin/delete", confirm="yes")
    assert builtin.status_code == 400, builtin.text[-3000:]

    client, _ = await container.clients.create(
        CLI, name="billing", grant_types=["client_credentials"]
    )
    no_right = await admin.post(f"/console/clients/{client.client_id}/delete", confirm="yes")
    assert no_right.status_code in (403, 404)
    await container.access.create_role(CLI, "client-admin", ["authgate:clients.write"])
    await container.access.bind(CLI, "client-admin", f"user:{admin.user.id}", "/")
    deleted = await admin.post(f"/console/clients/{client.client_id}/delete", confirm="yes")
    assert deleted.status_code == 303
    assert await container.clients.get(client.client_id) is None


async def test_forward_auth_rules_are_managed_from_the_console(
    container: Container, http: httpx.AsyncClient
) -> None:
    """Spec §6: a rule added here answers the proxy's next sub-request; a bad one is
    refused with the reason; ``routes.read`` alone shows the rules and no form."""
    reader = await _admin(container, http, [(["authgate:routes.read"], "/")])
    page = await http.get("/console/routes")
    assert page.status_code == 200 and "Add rule" not in page.text
    refused = await reader.post("/console/routes", path="/health", public="yes")
    assert refused.status_code == 403

    await container.access.create_role(CLI, "route-keeper", ["authgate:routes.write"])
    await container.access.bind(CLI, "route-keeper", f"user:{reader.user.id}", "/")
    sub_request = {"X-Original-Method": "GET", "X-Original-URI": "/health"}
    assert (await http.get("/forward-auth", headers=sub_request)).status_code == 403
    bad = await reader.post("/console/routes", path="health/{", public="yes")
    assert bad.status_code == 400
    added = await reader.post("/console/routes", path="/health", methods="get", public="yes")
    assert added.status_code == 303
    (route,) = await container.forward_auth.routes.all()
    assert (route.path, route.methods, route.public) == ("/health", ("GET",), True)
    assert (await http.get("/forward-auth", headers=sub_request)).status_code == 200
    shown = await http.get("/console/routes")
    assert route.id in shown.text
    gone = await reader.post(f"/console/routes/{route.id}/delete", confirm="yes")
    assert gone.status_code == 303
    assert await container.forward_auth.routes.all() == []
    assert (await http.get("/forward-auth", headers=sub_request)).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/console/users?q=%00",
        "/console/users/%00",
        "/console/audit?actor=%00",
        "/console/users/a%01",
    ],
)
async def test_control_characters_in_an_address_are_400(
    container: Container, http: httpx.AsyncClient, path: str
) -> None:
    """Spec §7: bad input is a 4xx; a NUL must never reach a query (PostgreSQL refuses
    it with an error)."""
    await _admin(container, http, [(["*"], "/")])
    response = await http.get(path)
    assert response.status_code == 400
    assert "control characters" in response.text


async def test_control_characters_in_a_form_are_400_and_change_nothing(
    container: Container, http: httpx.AsyncClient
) -> None:
    admin = await _admin(container, http, [(["*"], "/")])
    made = await admin.post("/console/users", username="eve\x00il", password="p" * 20)
    assert made.status_code == 400
    assert "control characters" in made.text
    assert await container.users.page(None, 10, q="eve") == []


async def test_the_access_checker_tells_only_what_the_administrator_may_see(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """An ``org:acme`` administrator asks about ``org:acme``: a subject living elsewhere
    is answered as unknown (whether it exists is not disclosed), and a binding at ``/``
    that allows is not named."""
    await _admin(
        container,
        http,
        [(["authgate:bindings.read", "authgate:users.read"], "org:acme")],
    )
    local = await container.users.create("local", CLI, scope="org:acme/team:a")
    await container.access.create_role(CLI, "reader", ["docs:read"])
    root_binding = await container.access.bind(CLI, "reader", f"user:{local.id}", "/")
    await container.access.bind(CLI, "reader", f"user:{target.id}", "/")

    def ask(subject: str) -> dict[str, str]:
        return {"subject": subject, "permission": "docs:read", "resource": "org:acme/doc:1"}

    elsewhere = await http.get("/console/check", params=ask(target.username))
    assert elsewhere.status_code == 200
    assert "no user &#39;victim&#39; that you may see" in elsewhere.text
    nobody = await http.get("/console/check", params=ask("ghost"))
    assert "no user &#39;ghost&#39; that you may see" in nobody.text, "same answer"
    mine = await http.get("/console/check", params=ask("local"))
    assert "Allowed" in mine.text
    assert "a binding on a scope you may not read" in mine.text
    assert root_binding.id not in mine.text


async def test_the_dashboard_shows_recent_security_events(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """Issue: "dashboard (counts, recent security events)": a failed sign-in is there, a
    routine creation is not (it is in the audit log)."""
    await _admin(container, http, [(["*"], "/")])
    with pytest.raises(AuthGateError):
        await container.login.check_password("victim", "wrong-password", CLI)
    await container.users.create("routine", CLI)
    page = await http.get("/console")
    assert page.status_code == 200
    section = page.text.split("Recent security events", 1)[1]
    assert "account:login:failure" in section
    assert "user:created" not in section


@pytest.mark.parametrize("kind", ["groups", "roles", "bindings"])
async def test_groups_roles_and_bindings_page_by_cursor(
    container: Container, http: httpx.AsyncClient, target: User, kind: str
) -> None:
    """Every list is paged: a Next page link goes on where the page stopped, and paging
    through shows each object once."""
    await _admin(container, http, [(["*"], "/")])
    made = []
    for n in range(3):
        role = await container.access.create_role(CLI, f"paged-{n}", ["docs:read"])
        group = await container.access.create_group(CLI, f"team-{n}")
        binding = await container.access.bind(CLI, role.name, f"group:{group.name}", "/")
        made.append({"groups": group.name, "roles": role.name, "bindings": binding.id}[kind])
    seen, url, pages = "", f"/console/{kind}?limit=2", 0
    for _ in range(10):
        page = await http.get(url)
        assert page.status_code == 200, page.text
        seen, pages = seen + page.text, pages + 1
        found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        if found is None:
            break
        url = found.group(1).replace("&amp;", "&")
    assert pages >= 2 and all(name in seen for name in made)
    bad = await http.get(f"/console/{kind}?cursor=forged")
    assert bad.status_code == 400


async def test_e_mail_scope_and_attributes_are_changed_where_allowed(
    container: Container, http: httpx.AsyncClient
) -> None:
    """A user's e-mail and attributes feed conditions wherever they are bound, so an
    ``org:acme`` administrator may move an ``org:acme`` user within ``org:acme`` but not
    change what conditions read; an administrator at ``/`` may."""
    scoped = await _admin(container, http, [(list(USERS), "org:acme")])
    ann = await container.users.create("ann", CLI, scope="org:acme")
    page = await http.get(f"/console/users/{ann.id}")
    assert "Save changes" in page.text and "Set attribute" not in page.text
    moved = await scoped.post(f"/console/users/{ann.id}/edit", scope="org:acme/team:a")
    assert moved.status_code == 303
    out = await scoped.post(f"/console/users/{ann.id}/edit", scope="org:other")
    assert out.status_code == 403
    mail = await scoped.post(
        f"/console/users/{ann.id}/edit", email="ann@finance.example", scope="org:acme/team:a"
    )
    assert mail.status_code == 403
    attr = await scoped.post(f"/console/users/{ann.id}/attributes", name="level", value="9")
    assert attr.status_code == 403
    found = await container.users.get_by_id(ann.id)
    assert found is not None
    assert (found.scope, found.email, found.attributes) == ("org:acme/team:a", None, {})

    await container.access.create_role(CLI, "root-users", ["authgate:users.write"])
    await container.access.bind(CLI, "root-users", f"user:{scoped.user.id}", "/")
    for name, value, kind in (("level", "9", "number"), ("vip", "true", "boolean")):
        done = await scoped.post(
            f"/console/users/{ann.id}/attributes", name=name, value=value, type=kind
        )
        assert done.status_code == 303
    mail = await scoped.post(
        f"/console/users/{ann.id}/edit", email="ann@example.com", scope="org:acme/team:a"
    )
    assert mail.status_code == 303
    bad = await scoped.post(
        f"/console/users/{ann.id}/attributes", name="x", value="many", type="number"
    )
    assert bad.status_code == 400
    gone = await scoped.post(f"/console/users/{ann.id}/attributes/remove", name="vip")
    assert gone.status_code == 303
    found = await container.users.get_by_id(ann.id)
    assert found is not None
    assert (found.email, found.attributes) == ("ann@example.com", {"level": 9})


async def test_a_role_is_changed_only_to_what_the_administrator_holds(
    container: Container, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the admin API's PATCH: a role may be narrowed or changed within what the
    administrator holds at ``/``, never widened beyond it; and a change landing meanwhile
    is not written over (409)."""
    admin = await _admin(
        container,
        http,
        [(["authgate:roles.read", "authgate:roles.write", "orders:read", "orders:write"], "/")],
    )
    await container.access.create_role(CLI, "clerk", ["orders:read"])
    wider = await admin.post("/console/roles/clerk/edit", permissions="orders:read orders:delete")
    assert wider.status_code == 403 and "orders:delete" in wider.text
    done = await admin.post("/console/roles/clerk/edit", permissions="orders:read orders:write")
    assert done.status_code == 303
    assert (await container.access.get_role("clerk")).permissions == (
        "orders:read",
        "orders:write",
    )

    read = AccessService.get_role

    async def meanwhile(self: AccessService, name: str) -> Role:
        found = await read(self, name)
        await AccessService.update_role(self, CLI, name, permissions=["orders:write"])
        return found

    monkeypatch.setattr(AccessService, "get_role", meanwhile)
    raced = await admin.post("/console/roles/clerk/edit", permissions="orders:read")
    monkeypatch.undo()
    assert raced.status_code == 409
    assert (await container.access.get_role("clerk")).permissions == ("orders:write",)


async def test_a_client_registration_is_edited_as_the_admin_api_allows(
    container: Container, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``org:acme`` client administrator edits an ``org:acme`` client's redirect URIs
    (matched exactly, RFC 6749 §3.1.2), not a first-party one living there, and a change
    landing meanwhile is not written over."""
    admin = await _admin(
        container, http, [(["authgate:clients.read", "authgate:clients.write"], "org:acme")]
    )
    app, _ = await container.clients.create(
        CLI,
        name="shop",
        grant_types=["authorization_code"],
        redirect_uris=["https://shop.example/cb"],
        scope="org:acme",
    )
    trusted, _ = await container.clients.create(
        CLI,
        name="portal",
        grant_types=["authorization_code"],
        redirect_uris=["https://portal.example/cb"],
        scope="org:acme",
        first_party=True,
    )
    page = await http.get("/console/clients")
    assert "Edit shop" in page.text and "Edit portal" not in page.text
    fields = {
        "name": "shop",
        "redirect_uris": "https://shop.example/cb\r\nhttps://shop.example/cb2",
    }
    done = await admin.post(f"/console/clients/{app.client_id}/edit", **fields)
    assert done.status_code == 303
    edited = await container.clients.get(app.client_id)
    assert edited is not None
    assert edited.redirect_uris == ("https://shop.example/cb", "https://shop.example/cb2")
    evil = {"name": "portal", "redirect_uris": "https://evil.example/cb"}
    refused = await admin.post(f"/console/clients/{trusted.client_id}/edit", **evil)
    assert refused.status_code == 403
    bad = await admin.post(
        f"/console/clients/{app.client_id}/edit", name="shop", redirect_uris="nope"
    )
    assert bad.status_code == 400

    read = ClientService.get

    async def meanwhile(self: ClientService, client_id: str) -> Client | None:
        found = await read(self, client_id)
        await ClientService.update(self, client_id, CLI, name="renamed elsewhere")
        return found

    monkeypatch.setattr(ClientService, "get", meanwhile)
    raced = await admin.post(f"/console/clients/{app.client_id}/edit", **fields)
    monkeypatch.undo()
    assert raced.status_code == 409
    kept = await container.clients.get(app.client_id)
    assert kept is not None and kept.name == "renamed elsewhere"


async def test_a_groups_description_is_changed_from_the_console(
    container: Container, http: httpx.AsyncClient
) -> None:
    admin = await _admin(container, http, [(["authgate:groups.read"], "/")])
    await container.access.create_group(CLI, "support", description="old")
    refused = await admin.post("/console/groups/support/edit", description="mine")
    assert refused.status_code == 403
    await container.access.create_role(CLI, "group-writer", ["authgate:groups.write"])
    await container.access.bind(CLI, "group-writer", f"user:{admin.user.id}", "/")
    done = await admin.post("/console/groups/support/edit", description="first-line help")
    assert done.status_code == 303
    assert (await container.access.get_group("support")).description == "first-line help"
    page = await http.get("/console/groups")
    assert "first-line help" in page.text


async def test_a_generated_password_is_shown_once_and_works(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    admin = await _admin(container, http, [(["*"], "/")])
    both = await admin.post(
        f"/console/users/{target.id}/password", password="p" * 20, generate="yes", confirm="yes"
    )
    assert both.status_code == 400
    made = await admin.post(f"/console/users/{target.id}/password", generate="yes", confirm="yes")
    assert made.status_code == 303
    first = await http.get(made.headers["location"])
    shown = re.search(r'data-testid="generated-password">([^<]+)<', first.text)
    assert shown, "the generated password is on the next page"
    await container.login.check_password("victim", shown.group(1), CLI)
    again = await http.get(made.headers["location"])
    assert shown.group(1) not in again.text, "and only there"


async def test_a_rotation_may_keep_the_old_secret_working_for_a_while(
    container: Container, http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The overlap of the admin API's rotate-secret, from the console: the old secret
    works until it ends, then only the new one does."""
    client, old = await container.clients.create(
        CLI, name="Billing", grant_types=["client_credentials"]
    )
    assert old is not None
    admin = await _admin(container, http, [(["*"], "/")])
    path = f"/console/clients/{client.client_id}/rotate-secret"
    bad = await admin.post(path, confirm="yes", overlap="soon")
    assert bad.status_code == 400
    rotated = await admin.post(path, confirm="yes", overlap="10m")
    assert rotated.status_code == 303
    page = await http.get(rotated.headers["location"])
    new = SECRET.search(page.text)
    assert new and "works for 10m more" in page.text
    assert await container.clients.authenticate_secret(client.client_id, old)
    assert await container.clients.authenticate_secret(client.client_id, new.group(1))
    clock.advance(timedelta(minutes=11))
    assert await container.clients.authenticate_secret(client.client_id, old) is None
    assert await container.clients.authenticate_secret(client.client_id, new.group(1))


async def test_a_key_made_for_a_user_carries_only_what_the_administrator_holds(
    container: Container, http: httpx.AsyncClient, target: User
) -> None:
    """As the admin API (spec §5): a key for someone else lists its permissions, each
    held by its maker at ``/``; the key is shown once."""
    admin = await _admin(
        container,
        http,
        [(["authgate:users.read", "authgate:apikeys.write", "orders:read"], "/")],
    )
    await container.access.create_role(CLI, "order-reader", ["orders:read", "orders:write"])
    await container.access.bind(CLI, "order-reader", f"user:{target.id}", "/")
    path = f"/console/users/{target.id}/api-keys"
    unlisted = await admin.post(path, name="bot")
    assert unlisted.status_code == 400
    wider = await admin.post(path, name="bot", permissions="orders:read orders:write")
    assert wider.status_code == 403 and "orders:write" in wider.text
    assert await container.api_keys.list(f"user:{target.id}") == []
    made = await admin.post(path, name="bot", permissions="orders:read", expires_in="30d")
    assert made.status_code == 303
    page = await http.get(made.headers["location"])
    shown = re.search(r'data-testid="new-api-key">([^<]+)<', page.text)
    assert shown and shown.group(1).startswith("agk_")
    (key,) = await container.api_keys.list(f"user:{target.id}")
    assert key.permissions == ("orders:read",) and key.id in shown.group(1)
    again = await http.get(made.headers["location"])
    assert shown.group(1) not in again.text
