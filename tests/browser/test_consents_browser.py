"""Allowing an app and taking it back, as a user does it in a real chromium: the consent
page, the app on the account page, "Remove access", and the consent page again."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import pytest

from tests.browser.support import Account, create_account, off_the_event_loop
from tests.conftest import free_port
from tests.support.server import CHROMIUM, RunningServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

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

#: The app's redirect URI: a one-page HTTP server the test runs (Playwright cannot stand
#: in for a page reached through a redirect).
CALLBACK = f"http://127.0.0.1:{free_port()}/callback"
APP_NAME = "Photo printer"


def _register_app(server: RunningServer) -> str:
    """A public client (PKCE) through the CLI, as an operator would register it."""
    result = off_the_event_loop(
        server.cli,
        "client",
        "create",
        "--name",
        APP_NAME,
        "--public",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        CALLBACK,
        "--json",
    )
    return str(json.loads(result.stdout)["client_id"])


def _authorize_url(client_id: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    return "/oauth/authorize?" + urlencode(params)


def _sign_in(page: Page, account: Account) -> None:
    page.goto("/login")
    page.fill('input[autocomplete="username"]', account.username)
    page.fill('input[autocomplete="current-password"]', account.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


class _AppPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"the app got its code"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def _the_app() -> Iterator[None]:
    app = ThreadingHTTPServer(("127.0.0.1", urlsplit(CALLBACK).port or 0), _AppPage)
    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    yield
    app.shutdown()
    app.server_close()


def _sign_in_through_the_app(page: Page, client_id: str, account: Account) -> None:
    page.goto(_authorize_url(client_id))
    page.fill('input[autocomplete="username"]', account.username)
    page.fill('input[autocomplete="current-password"]', account.password)
    with page.expect_navigation(url=CALLBACK + "**"):
        page.get_by_role("button", name="Sign in").click()


def test_allowing_an_app_and_removing_its_access(page: Page, server: RunningServer) -> None:
    account = create_account(server, "consent")
    client_id = _register_app(server)
    _sign_in(page, account)
    page.goto("/account")
    expect(page.get_by_text("You have not allowed any apps")).to_be_visible()

    page.goto(_authorize_url(client_id))
    expect(page.get_by_role("heading", name=f"Allow {APP_NAME}?")).to_be_visible()
    # Chromium applies the page's CSP form-action to the redirect that follows "Allow"
    # (CSP Level 3 §6.4.2): the consent page must allow the app's origin.
    with page.expect_navigation(url=CALLBACK + "**"):
        page.get_by_role("button", name="Allow").click()
    assert page.url.startswith(CALLBACK + "?code=")

    page.goto("/account")
    app = page.get_by_role("region", name=APP_NAME)
    expect(app).to_contain_text("Know who you are")
    with page.expect_navigation():
        app.get_by_role("button", name=f"Remove access for {APP_NAME}").click()
    assert urlsplit(page.url).path == "/account"
    expect(page.get_by_role("status")).to_contain_text("Access removed.")
    expect(page.get_by_role("region", name=APP_NAME)).to_have_count(0)
    expect(page.get_by_text("You have not allowed any apps")).to_be_visible()

    # The app has to ask again.
    page.goto(_authorize_url(client_id))
    expect(page.get_by_role("heading", name=f"Allow {APP_NAME}?")).to_be_visible()


def test_signing_in_from_an_app_lands_back_in_the_app(page: Page, server: RunningServer) -> None:
    """The login form's submission ends, through the remembered consent, in a redirect to
    the app: the login page's CSP must let it through too."""
    account = create_account(server, "returning")
    client_id = _register_app(server)
    _sign_in(page, account)
    page.goto(_authorize_url(client_id))
    with page.expect_navigation(url=CALLBACK + "**"):
        page.get_by_role("button", name="Allow").click()
    page.context.clear_cookies()  # signed out; the consent is remembered

    _sign_in_through_the_app(page, client_id, account)
    assert page.url.startswith(CALLBACK + "?code=")
    assert "state=" in page.url
