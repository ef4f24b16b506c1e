"""The sign-in pages as a user sees them, in a real chromium against a real server.

Covers password login, the generic failure message, lockout, TOTP enrolment and the
second-factor step (including recovery codes), sign-out and the CSRF check on forms.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.browser.support import DEMO, Account, create_account
from tests.support.server import CHROMIUM, RunningServer

if TYPE_CHECKING:
    from playwright.sync_api import Cookie, Locator, Page, Response

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]

pyotp = pytest.importorskip("pyotp")
expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect

SESSION_COOKIE = "authgate_session"  # no __Host- prefix: the test issuer is plain http

USERNAME = 'input[autocomplete="username"]'
PASSWORD = 'input[autocomplete="current-password"]'
ONE_TIME_CODE = 'input[autocomplete="one-time-code"]'

GENERIC_FAILURE = "Incorrect username or password."
CODE_FAILURE = "That code is not valid."
TOO_MANY = "Too many failed attempts"
FORM_EXPIRED = "This form expired or was sent from another site."
RECOVERY_CODE = re.compile(r"^[a-z2-9]{4}(-[a-z2-9]{4}){3}$")


# -- helpers -------------------------------------------------------------------------------


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert len(data) > 0
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def submit(page: Page, button: str) -> Response:
    """Click a submit button and return the response of the page it leads to."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button).click()
    response = navigation.value
    assert response is not None
    return response


def fill_login(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill(USERNAME, username)
    page.fill(PASSWORD, password)


def sign_in(page: Page, account: Account) -> Response:
    fill_login(page, account.username, account.password)
    return submit(page, "Sign in")


def sign_out(page: Page) -> None:
    """With the button on the account page."""
    page.goto("/account")
    submit(page, "Sign out")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def alert(page: Page) -> Locator:
    return page.get_by_role("alert")


def session_cookies(page: Page) -> list[Cookie]:
    return [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]


def expect_account_page(page: Page, username: str) -> None:
    assert path_of(page) == "/account"
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("dt:has-text('Username') + dd")).to_have_text(username)
    expect(page.locator("header .who strong")).to_have_text(username)


def enrol_totp(page: Page, shot: Path | None = None) -> tuple[str, str, list[str]]:
    """Turn on two-step verification for the signed-in user through the page.

    Returns (secret, the code that confirmed enrolment, the recovery codes shown)."""
    page.goto("/account/mfa")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    if shot is not None:
        screenshot(page, shot)
    secret = page.locator("code#secret").get_attribute("data-secret")
    assert secret and re.fullmatch(r"[A-Z2-7]{32}", secret)
    # The key is also shown for typing by hand, in groups of four.
    assert page.locator("code#secret").inner_text().replace(" ", "") == secret
    code = pyotp.TOTP(secret).now()
    page.fill(ONE_TIME_CODE, code)
    response = submit(page, "Turn on")
    assert response.status == 200
    expect(page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    items = page.locator("#recovery-codes li")
    expect(items).to_have_count(10)
    codes = [text.strip() for text in items.all_inner_texts()]
    assert all(RECOVERY_CODE.match(c) for c in codes), codes
    assert len(set(codes)) == 10
    return secret, code, codes


def code_outside_window(secret: str) -> str:
    """A 6-digit code that is not valid for ``secret`` anywhere near now."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    near = {totp.at(now + 30 * k) for k in range(-3, 4)}
    candidate = int(totp.now())
    while f"{candidate:06d}" in near:
        candidate = (candidate + 123_457) % 1_000_000
    return f"{candidate:06d}"


def expect_mfa_prompt(page: Page) -> None:
    assert path_of(page) == "/login/mfa"
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    expect(page.locator(ONE_TIME_CODE)).to_be_visible()
    expect(page.locator(ONE_TIME_CODE)).to_be_focused()


def enter_code(page: Page, code: str) -> Response:
    page.fill(ONE_TIME_CODE, code)
    return submit(page, "Verify")


# -- fixtures and tests ----------------------------------------------------------------------


@pytest.fixture
def new_account(server: RunningServer) -> Callable[[str], Account]:
    """Accounts of their own for the tests that lock or enrol them (never the demo user)."""
    return lambda prefix: create_account(server, prefix)


def test_login_lands_on_account_with_a_protected_cookie(page: Page, shots: Path) -> None:
    page.goto("/login")
    expect(page).to_have_title("Sign in · AuthGate")
    expect(page.locator(USERNAME)).to_be_focused()
    screenshot(page, shots / "login.png")

    response = sign_in(page, DEMO)

    assert response.status == 200
    expect_account_page(page, "demo")
    expect(page.locator("dt:has-text('Signed in with') + dd")).to_have_text("pwd")
    expect(page.locator("dt:has-text('Two-step verification') + dd")).to_contain_text("Off")
    [cookie] = session_cookies(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    # Scripts on the page cannot read it.
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    # Going to the sign-in page again while signed in goes straight to the account.
    page.goto("/login")
    assert path_of(page) == "/account"


def test_wrong_password_and_unknown_user_get_the_same_message(page: Page) -> None:
    fill_login(page, "demo", "not-the-demo-password")
    response = submit(page, "Sign in")

    assert response.status == 401
    assert path_of(page) == "/login"
    expect(alert(page)).to_have_text(GENERIC_FAILURE)
    expect(page.locator(USERNAME)).to_have_value("demo")
    expect(page.locator(PASSWORD)).to_have_value("")
    wrong_password_text = alert(page).inner_text()

    fill_login(page, "nobody-by-this-name", "not-the-demo-password")
    response = submit(page, "Sign in")

    assert response.status == 401
    assert path_of(page) == "/login"
    expect(alert(page)).to_have_text(GENERIC_FAILURE)
    assert alert(page).inner_text() == wrong_password_text
    assert session_cookies(page) == []


def test_sign_out_ends_the_session(page: Page) -> None:
    sign_in(page, DEMO)
    expect_account_page(page, "demo")
    [old_cookie] = session_cookies(page)

    submit(page, "Sign out")

    assert path_of(page) == "/"
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert session_cookies(page) == []
    page.goto("/account")
    assert path_of(page) == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The old token is dead on the server too, not only forgotten by the browser.
    page.context.add_cookies([old_cookie])  # type: ignore[list-item]  # Cookie vs SetCookieParam
    page.goto("/account")
    assert path_of(page) == "/login"


def test_tampered_csrf_token_is_refused(page: Page) -> None:
    fill_login(page, DEMO.username, DEMO.password)
    page.evaluate(
        """() => {
            const field = document.querySelector('input[name="csrf_token"]');
            field.value = field.value.replace(/.$/, (last) => (last === "0" ? "1" : "0"));
        }"""
    )

    response = submit(page, "Sign in")

    assert response.status == 403
    assert path_of(page) == "/login"
    expect(alert(page)).to_contain_text(FORM_EXPIRED)
    assert session_cookies(page) == []
    page.goto("/account")
    assert path_of(page) == "/login"

    # The same credentials in an untouched form do sign in.
    assert sign_in(page, DEMO).status == 200
    expect_account_page(page, "demo")

    # Sign-out is protected the same way: a tampered form leaves the session alone.
    page.evaluate(
        """() => {
            document.querySelector('form[action="/logout"] input[name="csrf_token"]').value = 'x';
        }"""
    )
    response = submit(page, "Sign out")
    assert response.status == 403
    expect(alert(page)).to_contain_text(FORM_EXPIRED)
    page.goto("/account")
    expect_account_page(page, "demo")


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    page: Page, new_account: Callable[[str], Account]
) -> None:
    account = new_account("lockout")
    page.goto("/login")
    page.fill(USERNAME, account.username)

    # Five failures are free, each answered with the generic message. The refused page
    # keeps the username, so only the password is typed again (as a user would).
    for _ in range(5):
        page.fill(PASSWORD, "wrong-password-guess")
        assert submit(page, "Sign in").status == 401
        expect(alert(page)).to_have_text(GENERIC_FAILURE)
        expect(page.locator(USERNAME)).to_have_value(account.username)
    locked_at = time.monotonic()

    # Then the account is locked (for 2 s at first), whatever the password. The two
    # attempts below take well under a second; the lockout is checked before the password.
    page.fill(PASSWORD, "wrong-password-guess")
    wrong = submit(page, "Sign in")
    page.fill(PASSWORD, account.password)
    right = submit(page, "Sign in")
    elapsed = time.monotonic() - locked_at

    assert (wrong.status, right.status) == (429, 429), f"{elapsed:.2f} s after the lockout began"
    assert path_of(page) == "/login"
    expect(alert(page)).to_contain_text(TOO_MANY)
    assert session_cookies(page) == []
    message = alert(page).inner_text()
    wait = re.search(r"Try again in (\d+) seconds?\.", message)
    assert wait, message
    assert right.headers["retry-after"] == wait.group(1)

    # The lockout ends by itself.
    time.sleep(int(wait.group(1)))
    assert sign_in(page, account).status == 200
    expect_account_page(page, account.username)


def test_totp_enrolment_and_sign_in_with_a_code(
    page: Page, new_account: Callable[[str], Account], shots: Path
) -> None:
    account = new_account("totp")
    sign_in(page, account)

    secret, enrolment_code, _ = enrol_totp(page, shots / "enrol.png")

    assert (shots / "enrol.png").stat().st_size > 0
    page.get_by_role("link", name="Done").click()
    expect(page.locator("dt:has-text('Two-step verification') + dd")).to_contain_text(
        "On (10 recovery codes left)"
    )
    sign_out(page)

    # The password alone now only leads to the code prompt, not into the account.
    sign_in(page, account)
    expect_mfa_prompt(page)
    page.goto("/account")
    assert path_of(page) == "/login"
    page.goto("/login/mfa")
    expect_mfa_prompt(page)

    response = enter_code(page, code_outside_window(secret))
    assert response.status == 401
    expect_mfa_prompt(page)
    expect(alert(page)).to_contain_text(CODE_FAILURE)

    # The code that confirmed enrolment is spent: it cannot sign in.
    response = enter_code(page, enrolment_code)
    assert response.status == 401
    expect(alert(page)).to_contain_text(CODE_FAILURE)

    # A code of the next time step is fresh and inside the allowed clock drift (one step),
    # so there is no need to wait up to 30 s for the app to show a new code.
    response = enter_code(page, pyotp.TOTP(secret).at(time.time() + 30))
    assert response.status == 200
    expect_account_page(page, account.username)
    expect(page.locator("dt:has-text('Signed in with') + dd")).to_have_text("pwd + otp")


def test_recovery_code_signs_in_once(page: Page, new_account: Callable[[str], Account]) -> None:
    account = new_account("recovery")
    sign_in(page, account)
    _, _, codes = enrol_totp(page)
    sign_out(page)

    sign_in(page, account)
    expect_mfa_prompt(page)
    response = enter_code(page, codes[0])
    assert response.status == 200
    expect_account_page(page, account.username)
    expect(page.locator("dt:has-text('Two-step verification') + dd")).to_contain_text(
        "On (9 recovery codes left)"
    )
    sign_out(page)

    sign_in(page, account)
    response = enter_code(page, codes[0])
    assert response.status == 401
    expect_mfa_prompt(page)
    expect(alert(page)).to_contain_text(CODE_FAILURE)
    assert path_of(page) == "/login/mfa"

    # Another, unused code still works.
    response = enter_code(page, codes[1])
    assert response.status == 200
    expect_account_page(page, account.username)
    expect(page.locator("dt:has-text('Two-step verification') + dd")).to_contain_text(
        "On (8 recovery codes left)"
    )
