"""The web console as an administrator uses it, in a real chromium against a real server
on SQLite and on PostgreSQL: sign-in through AuthGate's own code flow with a TOTP code,
then a user, a group, a role binding that changes the access checker's answer, an API key
revoked, a client secret rotated, and each of those found in the audit log; then an
account disabled, enabled, stripped of its second factor and signed out, an API
registered, a client disabled, a secret rotated that a reload does not show again, and
users paged through. Screenshots of the main pages go to ``test-artifacts/console/``."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.browser.support import create_account, off_the_event_loop
from tests.conftest import BACKENDS, POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.support.server import CHROMIUM, RunningServer, init_data_dir, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]

expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect
pyotp = pytest.importorskip("pyotp")

ADMIN = ("admin", "admin-password-for-tests")  # made by ``authgate init`` (tests/support)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server with the demo user on each database (a fresh PostgreSQL database, dropped
    after), shared by the tests of this module: each test runs once per backend."""
    env: dict[str, str] = {}
    base = POSTGRES_URL or ""
    if request.param == "postgresql":
        url = off_the_event_loop(asyncio.run, create_postgres_database(base))
        env["AUTHGATE_DATABASE_URL"] = url
    data_dir = tmp_path_factory.mktemp(f"console-{request.param}") / "data"
    try:
        off_the_event_loop(init_data_dir, data_dir, env, demo=True)
        with running_server(data_dir, env) as running:
            yield running
    finally:
        if env:
            off_the_event_loop(asyncio.run, drop_postgres_database(base, url))


def _cli_json(server: RunningServer, *args: str) -> dict[str, object]:
    result = off_the_event_loop(server.cli, *args, "--json")
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


@pytest.fixture(scope="module")
def totp_secret(server: RunningServer) -> str:
    """The administrator's second factor, active at once (spec §4)."""
    return str(_cli_json(server, "user", "mfa", "enroll", ADMIN[0])["secret"])


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in_with_totp(page: Page, secret: str) -> None:
    """``/console`` → the login page → the second-factor page → back in the console."""
    page.goto("/console")
    assert urlsplit(page.url).path == "/login"
    page.fill('input[autocomplete="username"]', ADMIN[0])
    page.fill('input[autocomplete="current-password"]', ADMIN[1])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.fill('input[autocomplete="one-time-code"]', pyotp.TOTP(secret).now())
    with page.expect_navigation(url="**/console"):
        page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def _check(page: Page, subject: str, permission: str, resource: str) -> str:
    page.goto("/console/check")
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Permission").fill(permission)
    page.get_by_label("Resource path").fill(resource)
    with page.expect_navigation():
        page.get_by_role("button", name="Check").click()
    return page.get_by_role("region", name="Decision").inner_text()


def _audit_shows(page: Page, tag: str, text: str) -> None:
    page.goto("/console/audit")
    page.get_by_label("Event tag").fill(tag)
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("table").locator("tbody tr").filter(has_text=text).first
    expect(row.get_by_role("cell").nth(2)).to_have_text(ADMIN[0])  # the actor


def test_an_administrator_manages_access_from_the_console(
    page: Page, server: RunningServer, totp_secret: str
) -> None:
    tag = secrets.token_hex(3)
    newbie, group, role = f"newbie-{tag}", f"ops-{tag}", f"orders-reader-{tag}"
    _cli_json(
        server,
        "api",
        "create",
        "--audience",
        f"https://orders-{tag}.example",
        "--name",
        "Orders",
        "--permission",
        "orders:read",
    )
    _cli_json(server, "role", "create", role, "--permission", "orders:read")
    billing = _cli_json(
        server, "client", "create", "--name", f"Billing {tag}", "--grant-type", "client_credentials"
    )
    page.set_viewport_size(WIDE)
    _sign_in_with_totp(page, totp_secret)
    cookies = {c["name"]: c for c in page.context.cookies()}
    console = cookies["authgate_console"]  # http issuer: no __Host- prefix, not Secure
    assert console["httpOnly"] and console["sameSite"] == "Lax"
    assert "authgate_console_flow" not in cookies  # spent at the callback
    _shot(page, "dashboard")

    # A user, created from the users page, lands on their detail page.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Users").click()
    page.get_by_label("Username", exact=True).fill(newbie)
    page.get_by_label("Password (optional").fill("pw-" + secrets.token_hex(10))
    with page.expect_navigation():
        page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"User {newbie}")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("User created.")
    page.goto(f"/console/users?q={newbie[:8]}")
    expect(page.get_by_role("link", name=newbie)).to_be_visible()
    _shot(page, "users")

    # A group with the user in it.
    page.goto("/console/groups")
    page.get_by_label("Name").fill(group)
    with page.expect_navigation():
        page.get_by_role("button", name="Create group").click()
    card = page.get_by_role("region", name=f"Group {group}")
    card.get_by_label("Add a user").fill(newbie)
    with page.expect_navigation():
        card.get_by_role("button", name=f"Add to {group}").click()
    expect(page.get_by_role("region", name=f"Group {group}")).to_contain_text(newbie)

    # The access checker's answer changes once the group gets the role at a scope.
    before = _check(page, newbie, "orders:read", "org:acme/project:orders")
    assert before.startswith("Denied")
    page.goto("/console/bindings")
    page.get_by_label("Role").select_option(role)
    page.get_by_label("Member").fill(f"group:{group}")
    page.get_by_label("Scope").fill("org:acme")
    with page.expect_navigation():
        page.get_by_role("button", name="Bind role").click()
    expect(page.get_by_role("status")).to_contain_text(f"Bound {role} to group:{group}")
    after = _check(page, newbie, "orders:read", "org:acme/project:orders")
    assert after.startswith("Allowed")
    assert role in after  # the reason names the binding that matched
    _shot(page, "access-checker")
    assert _check(page, newbie, "orders:read", "org:other").startswith("Denied")

    # Revoking the user's API key, after ticking the confirmation box.
    key = _cli_json(server, "apikey", "create", "--user", newbie, "--name", "laptop")
    detail = f"/console/users?q={newbie}"
    page.goto(detail)
    with page.expect_navigation():
        page.get_by_role("link", name=newbie).click()
    keycard = page.get_by_role("region", name="API key laptop")
    expect(keycard).to_contain_text(str(key["id"]))
    keycard.get_by_label(f"Yes, revoke key {key['id']}").check()
    with page.expect_navigation():
        keycard.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text(f"API key {key['id']} revoked.")
    expect(page.get_by_role("region", name="API key laptop")).to_contain_text("(revoked)")
    _shot(page, "user-detail")

    # Rotating a client secret: the new one is shown once.
    page.goto("/console/clients")
    client_card = page.get_by_role("region", name=f"Client Billing {tag}")
    client_card.get_by_label("Yes, replace the secret").check()
    with page.expect_navigation():
        client_card.get_by_role("button", name="Rotate secret").click()
    shown = page.get_by_test_id("new-client-secret").inner_text()
    assert shown and shown != billing["client_secret"]
    page.goto("/console/clients")
    expect(page.get_by_test_id("new-client-secret")).to_have_count(0)

    # Each change is in the audit log, done by the signed-in administrator.
    _audit_shows(page, "user:created", newbie)
    _audit_shows(page, "group:member-added", f"group:{group}")
    _audit_shows(page, "binding:created", "org:acme")
    _audit_shows(page, "apikey:revoked", str(key["id"]))
    _audit_shows(page, "client:secret-rotated", str(billing["client_id"]))
    page.goto("/console/audit")
    expect(page.get_by_role("table").locator("tbody")).to_contain_text("user:")
    _shot(page, "audit-log")

    page.set_viewport_size(PHONE)
    page.goto("/console")
    _shot(page, "dashboard-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the dashboard must not scroll sideways on a phone"

    # A form posted without its CSRF token changes nothing.
    refused = page.request.post("/console/groups", form={"name": f"forged-{tag}"})
    assert refused.status == 403
    page.goto("/console/groups")
    expect(page.get_by_text(f"forged-{tag}")).to_have_count(0)

    # Signing out ends the console session with the AuthGate session.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/?logged_out=1")
    page.goto("/console")
    assert urlsplit(page.url).path == "/login"


def test_a_user_without_admin_permissions_sees_a_refusal(page: Page, server: RunningServer) -> None:
    account = create_account(server, "plain")
    page.goto("/console")
    page.fill('input[autocomplete="username"]', account.username)
    page.fill('input[autocomplete="current-password"]', account.password)
    with page.expect_navigation(url="**/console"):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert page.get_by_role("navigation", name="Console").get_by_role("link").count() <= 1
    response = page.request.get("/console/users")
    assert response.status == 403


def _sign_in(page: Page, username: str, password: str, landing: str = "**/console") -> None:
    page.goto("/console")
    page.fill('input[autocomplete="username"]', username)
    page.fill('input[autocomplete="current-password"]', password)
    with page.expect_navigation(url=landing):
        page.get_by_role("button", name="Sign in").click()


def _until_the_dashboard(page: Page) -> None:
    """A binding made by the CLI (another process) reaches the server's decision index
    within its poll interval (1 s): until then the console says "Not allowed"."""
    deadline = time.monotonic() + 10
    while not page.get_by_role("heading", name="Dashboard").is_visible():
        assert time.monotonic() < deadline, "the new administrator was never let in"
        page.wait_for_timeout(200)
        page.goto("/console")


def _fact(page: Page, name: str) -> Locator:
    """The value next to ``name`` in the user's facts."""
    term = page.locator(".facts dt", has_text=name)
    return term.locator("xpath=following-sibling::dd[1]")


def _submit(page: Page, form_name: str, button: str, *, confirm: str | None = None) -> None:
    """Tick the form's confirmation box (if named), send it, and wait for the next page."""
    form = page.get_by_role("form", name=form_name)
    if confirm is not None:
        form.get_by_label(confirm).check()
    with page.expect_navigation():
        form.get_by_role("button", name=button).click()


def test_an_administrator_manages_accounts_apis_and_clients(
    page: Page, browser: Browser, server: RunningServer
) -> None:
    tag = secrets.token_hex(3)
    admin = create_account(server, "console-admin")
    _cli_json(server, "bind", "authgate-admin", "--user", admin.username)
    target = create_account(server, "target")
    _cli_json(server, "user", "mfa", "enroll", target.username)
    for n in range(3):
        _cli_json(server, "user", "create", f"paged-{tag}-{n}")
    doomed = _cli_json(
        server, "client", "create", "--name", f"Doomed {tag}", "--grant-type", "client_credentials"
    )
    payroll = _cli_json(
        server, "client", "create", "--name", f"Payroll {tag}", "--grant-type", "client_credentials"
    )
    page.set_viewport_size(WIDE)
    _sign_in(page, admin.username, admin.password)
    _until_the_dashboard(page)

    # Disable, then enable the account.
    page.goto(f"/console/users?q={target.username}")
    with page.expect_navigation():
        page.get_by_role("link", name=target.username).click()
    detail = page.url
    _submit(page, "Disable", f"Disable {target.username}", confirm="Yes, disable")
    assert page.url == detail  # POST → 303 → the user's page
    expect(page.get_by_role("status")).to_contain_text(f"{target.username} is disabled")
    expect(_fact(page, "State")).to_have_text("disabled")
    _submit(page, "Enable", f"Enable {target.username}")
    expect(page.get_by_role("status")).to_contain_text("enabled again")
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)  # the notice was for one page

    # The second factor goes; the user then signs in with the password alone.
    expect(_fact(page, "State")).to_have_text("active")
    expect(_fact(page, "Two-step verification")).to_have_text("on")
    _submit(page, "Remove second factor", "Remove second factor", confirm="Yes, remove")
    expect(page.get_by_role("status")).to_contain_text("second factor of")
    expect(_fact(page, "Two-step verification")).to_have_text("off")

    # Their session shows, and ends.
    elsewhere = browser.new_context(base_url=server.url)
    try:
        theirs = elsewhere.new_page()
        _sign_in(theirs, target.username, target.password, landing="**/console")
        page.reload()
        sessions = page.get_by_role("region", name=f"Sessions of {target.username}")
        expect(sessions.locator("tbody tr")).to_have_count(1)
        _shot(page, "user-actions")
        _submit(page, "End sessions", "End sessions", confirm="Yes, sign")
        expect(page.get_by_role("status")).to_contain_text("Ended 1 session of")
        expect(page.get_by_text("No live sessions.")).to_be_visible()
        theirs.goto("/account")
        assert urlsplit(theirs.url).path == "/login"
    finally:
        elsewhere.close()

    # An API with a permission, then one more.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="APIs").click()
    audience = f"https://stock-{tag}.example"
    page.get_by_label("Audience").fill(audience)
    page.get_by_label("Name").fill(f"Stock {tag}")
    page.get_by_label("Permissions (space-separated, optional)").fill("stock:read")
    with page.expect_navigation():
        page.get_by_role("button", name="Register API").click()
    expect(page.get_by_role("status")).to_contain_text(f"API Stock {tag} ({audience}) registered.")
    card = page.get_by_role("region", name=f"API Stock {tag}")
    card.get_by_label("Add permissions").fill("stock:write")
    with page.expect_navigation():
        card.get_by_role("button", name=f"Add to Stock {tag}").click()
    card = page.get_by_role("region", name=f"API Stock {tag}")
    expect(card).to_contain_text("stock:read")
    expect(card).to_contain_text("stock:write")
    _shot(page, "apis")

    # A client disabled; another's secret rotated, which a reload neither shows nor repeats.
    page.goto("/console/clients")
    doomed_card = page.get_by_role("region", name=f"Client Doomed {tag}")
    doomed_card.get_by_label("Yes, disable").check()
    with page.expect_navigation():
        doomed_card.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text(f"Client Doomed {tag} is disabled")
    expect(page.get_by_role("heading", name=f"Doomed {tag} (disabled)")).to_be_visible()
    payroll_card = page.get_by_role("region", name=f"Client Payroll {tag}")
    payroll_card.get_by_label("Yes, replace the secret").check()
    with page.expect_navigation():
        payroll_card.get_by_role("button", name="Rotate secret").click()
    assert urlsplit(page.url).path == "/console/clients"
    shown = page.get_by_test_id("new-client-secret").inner_text()
    assert shown.startswith("agcs") and shown != payroll["client_secret"]
    page.reload()
    expect(page.get_by_test_id("new-client-secret")).to_have_count(0)
    registration = page.get_by_role("form", name="Register a client")
    registration.get_by_label("Name", exact=True).fill(f"Reports {tag}")
    registration.get_by_label("client_credentials").check()
    with page.expect_navigation():
        registration.get_by_role("button", name="Register client").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Client Reports {tag} registered")
    expect(page.get_by_test_id("new-client-secret")).to_contain_text("agcs")
    page.reload()
    expect(page.get_by_test_id("new-client-secret")).to_have_count(0)
    _shot(page, "clients")
    page.goto("/console/audit")
    page.get_by_label("Event tag").fill("client:secret-rotated")
    page.get_by_label("Subject").fill(f"client:{payroll['client_id']}")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table").locator("tbody tr")).to_have_count(1)
    assert str(doomed["client_id"]) != str(payroll["client_id"])

    # Users, two to a page.
    page.goto(f"/console/users?q=paged-{tag}&limit=2")
    rows = page.get_by_role("region", name="Users found").locator("tbody tr")
    expect(rows).to_have_count(2)
    with page.expect_navigation():
        page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    # Roles with what they inherit.
    _cli_json(server, "role", "create", f"stock-reader-{tag}", "--permission", "stock:read")
    _cli_json(
        server,
        "role",
        "create",
        f"stock-clerk-{tag}",
        "--permission",
        "stock:write",
        "--inherits",
        f"stock-reader-{tag}",
    )
    page.goto("/console/roles")
    clerk = page.get_by_role("row", name=f"stock-clerk-{tag}")
    expect(clerk.locator(".inherited")).to_have_text("stock:read")
    _shot(page, "roles")

    # On a phone, the pages with forms do not scroll sideways.
    page.set_viewport_size(PHONE)
    for path, name in ((detail, "user-actions-phone"), ("/console/apis", "apis-phone")):
        page.goto(path)
        _shot(page, name)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} must not scroll sideways on a phone"


def test_the_console_works_from_the_keyboard(page: Page, server: RunningServer) -> None:
    """The first Tab reaches the skip link, Enter lands in the page's content, and the
    access checker is filled in and sent with keys alone; a focused field shows its
    focus outline."""
    admin = create_account(server, "keyboard-admin")
    _cli_json(server, "bind", "authgate-admin", "--user", admin.username)
    page.set_viewport_size(WIDE)
    _sign_in(page, admin.username, admin.password)
    _until_the_dashboard(page)
    page.goto("/console/check")

    def focused() -> str:
        return str(page.evaluate("document.activeElement.id || document.activeElement.textContent"))

    page.keyboard.press("Tab")
    assert focused() == "Skip to content"
    page.keyboard.press("Enter")
    assert focused() == "content", "the skip link moves focus to the main content"
    page.keyboard.press("Tab")
    assert focused() == "check-subject"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "keyboard focus must be visible"
    page.keyboard.type(admin.username)
    page.keyboard.press("Tab")
    page.keyboard.type("authgate:users.read")
    page.keyboard.press("Tab")
    page.keyboard.type("org:acme")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Decision")).to_contain_text("Allowed")
