"""Browser login over HTTP: cookies, CSRF, generic errors, throttling, redirects."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.web.conftest import PASSWORD, csrf_token, login


@pytest.fixture
async def alice(container: Container) -> str:
    await container.users.create("alice", CLI, password=PASSWORD)
    return "alice"


async def test_login_sets_a_protected_session_cookie(client: httpx.AsyncClient, alice: str) -> None:
    response = await login(client, alice, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("authgate_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the issuer is plain http on loopback
    account = await client.get("/account")
    assert account.status_code == 200
    assert "alice" in account.text
    assert "pwd" in account.text


async def test_login_page_has_autocomplete_attributes(client: httpx.AsyncClient) -> None:
    page = (await client.get("/login")).text
    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page
    assert (await client.get("/login")).headers["x-frame-options"] == "DENY"


async def test_wrong_password_and_unknown_user_answer_alike(
    client: httpx.AsyncClient, alice: str
) -> None:
    wrong = await login(client, alice, "not-the-password")
    unknown = await login(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect username or password." in wrong.text
    assert "Incorrect username or password." in unknown.text
    assert "authgate_session" not in wrong.headers.get("set-cookie", "")
    assert (await client.get("/account")).status_code == 303


@pytest.mark.parametrize("token", ["", "0" * 64, "tampered"], ids=["missing", "zeros", "garbage"])
async def test_bad_csrf_token_is_refused(client: httpx.AsyncClient, alice: str, token: str) -> None:
    await client.get("/login")
    response = await client.post(
        "/login", data={"username": alice, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403
    assert "expired or was sent from another site" in response.text
    assert (await client.get("/account")).status_code == 303


async def test_csrf_token_from_another_browser_is_refused(
    container: Container, client: httpx.AsyncClient, alice: str
) -> None:
    other_token = await csrf_token(client)
    client.cookies.clear()
    await client.get("/login")  # a new CSRF cookie for "this" browser
    response = await client.post(
        "/login", data={"username": alice, "password": PASSWORD, "csrf_token": other_token}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
    ids=["protocol-relative", "absolute", "backslash", "javascript"],
)
async def test_next_cannot_redirect_off_site(
    client: httpx.AsyncClient, alice: str, target: str
) -> None:
    response = await login(client, alice, PASSWORD, next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


async def test_next_keeps_local_paths(client: httpx.AsyncClient, alice: str) -> None:
    response = await login(client, alice, PASSWORD, next_url="/account/mfa")
    assert response.headers["location"] == "/account/mfa"


async def test_account_lockout_grows_and_expires(
    container: Container, client: httpx.AsyncClient, alice: str, clock: FrozenClock
) -> None:
    for _ in range(5):
        assert (await login(client, alice, "wrong-password!")).status_code == 401
    locked = await login(client, alice, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text
    assert int(locked.headers["retry-after"]) >= 1
    clock.advance(timedelta(seconds=3))  # first lockout: 2 s
    assert (await login(client, alice, "wrong-password!")).status_code == 401
    clock.advance(timedelta(seconds=3))  # second lockout: 4 s
    assert (await login(client, alice, PASSWORD)).status_code == 429
    clock.advance(timedelta(seconds=2))
    assert (await login(client, alice, PASSWORD)).status_code == 303


async def test_unknown_usernames_lock_out_too(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await login(client, "ghost", "wrong-password!")).status_code == 401
    assert (await login(client, "ghost", "wrong-password!")).status_code == 429


async def test_per_ip_throttle_spans_usernames(
    container: Container, client: httpx.AsyncClient
) -> None:
    for n in range(20):
        assert (await login(client, f"spray{n}", "wrong-password!")).status_code == 401
    assert (await login(client, "spray-next", "wrong-password!")).status_code == 429


async def test_disabled_user_cannot_log_in(
    container: Container, client: httpx.AsyncClient, alice: str
) -> None:
    assert (await login(client, alice, PASSWORD)).status_code == 303
    await container.users.set_disabled(alice, True, CLI)
    assert (await client.get("/account")).status_code == 303  # session ended
    client.cookies.clear()
    response = await login(client, alice, PASSWORD)
    assert response.status_code == 401
    assert "Incorrect username or password." in response.text


async def test_logout_ends_the_session(client: httpx.AsyncClient, alice: str) -> None:
    await login(client, alice, PASSWORD)
    token = await csrf_token(client, "/logout")
    stolen = client.cookies.get("authgate_session")
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await client.get("/account")).status_code == 303
    # The old cookie value is dead server-side, not just deleted in this browser.
    client.cookies.set("authgate_session", stolen or "", domain="testserver.local")
    assert (await client.get("/account")).status_code == 303


async def test_logout_without_csrf_is_refused(client: httpx.AsyncClient, alice: str) -> None:
    await login(client, alice, PASSWORD)
    response = await client.post("/logout", data={"csrf_token": "nope"})
    assert response.status_code == 403
    assert (await client.get("/account")).status_code == 200


async def test_planted_session_id_is_not_adopted(client: httpx.AsyncClient, alice: str) -> None:
    """Session fixation (OWASP): a login always issues a new identifier."""
    planted = "ags_planted-by-an-attacker"
    client.cookies.set("authgate_session", planted, domain="testserver.local")
    response = await login(client, alice, PASSWORD)
    issued = response.cookies.get("authgate_session")
    assert issued not in (None, planted)
    client.cookies.clear()
    client.cookies.set("authgate_session", planted, domain="testserver.local")
    assert (await client.get("/account")).status_code == 303


@pytest.mark.parametrize(
    "name", ["bad name", "x" * 200, "\u00df" * 150], ids=["space", "long", "folds-long"]
)
async def test_unusable_usernames_fail_like_wrong_passwords(
    client: httpx.AsyncClient, name: str
) -> None:
    """On both databases: the same 401 as any failure, never a 500."""
    response = await login(client, name, "whatever-password")
    assert response.status_code == 401
    assert "Incorrect username or password." in response.text
