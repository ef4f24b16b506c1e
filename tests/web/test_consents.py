"""The apps a user has allowed, on ``/account``: listed with their scopes, and revocable.

Revoking must end everything the app got from the consent (the next authorization asks
again, earlier refresh and access tokens stop working) and nothing else: CSRF, another
user's session or a made-up client id change nothing.

The registered world (Alice, the web app, the resource server) and the user agent that
walks the code flow are the conformance suite's fixtures, imported by name; hence F401
and F811 (a fixture parameter "redefines" the import) are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    PASSWORD,
    WEB_REDIRECT,
    Browser,
    Pkce,
    Registered,
    _one_rsa_key_per_run,
    alice,
    apis,
    assert_oauth_error,
    browser,
    code_flow,
    code_request,
    http,
    introspect,
    redeem,
    redirect_params,
    refresh,
    resource_server,
    webapp,
)

SCOPE = "openid offline_access orders:read"
NONE_ALLOWED = "You have not allowed any apps to use your account."
REMOVED = "Access removed. The app has to ask you again"
FORM_EXPIRED = "This form expired or was sent from another site."
NOTHING_TO_REMOVE = "That app does not have access to your account"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
async def tokens(browser: Browser, webapp: Registered, alice: str) -> dict[str, Any]:
    """Alice, signed in, has allowed the web app and it holds her tokens."""
    return await code_flow(browser, webapp, WEB_REDIRECT, SCOPE)


async def _revoke_form(http: httpx.AsyncClient, client_id: str) -> tuple[str, str]:
    """The action and CSRF token of the app's "Remove access" form on the account page."""
    page = await http.get("/account")
    assert page.status_code == 200
    action = f"/account/consents/{quote(client_id, safe='/')}/revoke"
    assert f'action="{action}"' in page.text, "no Remove access form for this app"
    csrf = _CSRF.search(page.text)
    assert csrf
    return action, csrf.group(1)


async def _refresh_works(http: httpx.AsyncClient, client: Registered, token: str) -> bool:
    response = await refresh(http, client, token)
    if response.status_code == 200:
        return True
    assert_oauth_error(response, "invalid_grant", 400)
    return False


async def test_account_page_lists_the_apps_allowed(
    browser: Browser, webapp: Registered, alice: str, clock: FrozenClock
) -> None:
    await browser.login()
    assert NONE_ALLOWED in (await browser.http.get("/account")).text
    await code_flow(browser, webapp, WEB_REDIRECT, SCOPE)
    page = (await browser.http.get("/account")).text
    assert "Apps you have allowed" in page
    assert NONE_ALLOWED not in page
    assert "<h3>Shop back office</h3>" in page
    assert "Know who you are" in page and "Keep access while you are away" in page
    assert "<code>orders:read</code>" in page
    assert clock.now().strftime("%d %b %Y, %H:%M UTC") in page
    assert 'aria-label="Remove access for Shop back office"' in page


async def test_removing_access_ends_the_apps_tokens_and_asks_again(
    browser: Browser,
    container: Container,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
    tokens: dict[str, Any],
) -> None:
    action, csrf = await _revoke_form(browser.http, webapp.client_id)
    response = await browser.http.post(action, data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/account?revoked=1"
    page = (await browser.http.get(response.headers["location"])).text
    assert REMOVED in page and NONE_ALLOWED in page and "Shop back office" not in page

    # The next authorization shows the consent page instead of redirecting with a code.
    again = await browser.authorize(
        code_request(webapp, WEB_REDIRECT, SCOPE, Pkce.new()), decision=None
    )
    assert browser.pages == ["/oauth/consent"]
    assert again.status_code == 200 and "Allow Shop back office?" in again.text

    # Everything issued under the old consent is dead.
    assert not await _refresh_works(browser.http, webapp, tokens["refresh_token"])
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert await introspect(browser.http, resource_server, token) == {"active": False}

    events = [e for e in await container.audit.recent() if e.tag == AuditTag.OAUTH_CONSENT_REVOKED]
    assert len(events) == 1
    assert events[0].actor == events[0].subject == f"user:{alice}"
    assert events[0].details == {"client_id": webapp.client_id}


async def test_a_code_not_yet_redeemed_dies_with_the_consent(
    browser: Browser, webapp: Registered, alice: str, tokens: dict[str, Any]
) -> None:
    """A code issued moments before "Remove access" must not buy a fresh grant after it
    (RFC 6749 §10.5: codes are short-lived and revocable with what they stand for)."""
    pkce = Pkce.new()
    issued = redirect_params(
        await browser.authorize(code_request(webapp, WEB_REDIRECT, SCOPE, pkce)), WEB_REDIRECT
    )
    action, csrf = await _revoke_form(browser.http, webapp.client_id)
    assert (await browser.http.post(action, data={"csrf_token": csrf})).status_code == 303
    response = await redeem(browser.http, webapp, issued["code"], WEB_REDIRECT, pkce.verifier)
    assert_oauth_error(response, "invalid_grant", 400)


@pytest.mark.parametrize("csrf", [None, "0" * 64], ids=["missing", "forged"])
async def test_removing_access_without_the_form_token_is_refused(
    browser: Browser, webapp: Registered, tokens: dict[str, Any], csrf: str | None
) -> None:
    action, _ = await _revoke_form(browser.http, webapp.client_id)
    response = await browser.http.post(action, data={} if csrf is None else {"csrf_token": csrf})
    assert response.status_code == 403
    assert FORM_EXPIRED in response.text
    assert "<h3>Shop back office</h3>" in response.text
    assert await _refresh_works(browser.http, webapp, tokens["refresh_token"])


async def test_another_user_cannot_remove_alices_app(
    browser: Browser,
    container: Container,
    webapp: Registered,
    alice: str,
    tokens: dict[str, Any],
) -> None:
    """The user always comes from the session: Bob naming Alice's app removes nothing."""
    action, _ = await _revoke_form(browser.http, webapp.client_id)
    await container.users.create("bob", CLI, password=PASSWORD)
    browser.http.cookies.clear()
    browser.username = "bob"
    await browser.login()
    page = await browser.http.get("/account")
    csrf = _CSRF.search(page.text)
    assert csrf and NONE_ALLOWED in page.text
    response = await browser.http.post(action, data={"csrf_token": csrf.group(1)})
    assert response.status_code == 404
    assert NOTHING_TO_REMOVE in response.text
    assert [c.client_id for c in await container.consents.for_user(alice)] == [webapp.client_id]
    assert await _refresh_works(browser.http, webapp, tokens["refresh_token"])


@pytest.mark.parametrize(
    "client_id",
    ["no-such-app", "a/b", "%00", "x" * 500],
    ids=["unknown", "slash", "nul", "too-long"],
)
async def test_removing_an_app_that_was_never_allowed_is_404(
    browser: Browser, webapp: Registered, tokens: dict[str, Any], client_id: str
) -> None:
    _, csrf = await _revoke_form(browser.http, webapp.client_id)
    response = await browser.http.post(
        f"/account/consents/{client_id}/revoke", data={"csrf_token": csrf}
    )
    assert response.status_code == 404
    assert NOTHING_TO_REMOVE in response.text
    assert "<h3>Shop back office</h3>" in response.text  # still allowed
    assert await _refresh_works(browser.http, webapp, tokens["refresh_token"])


async def test_an_app_turned_off_by_an_administrator_can_still_be_removed(
    browser: Browser, container: Container, webapp: Registered, tokens: dict[str, Any]
) -> None:
    await container.clients.set_disabled(webapp.client_id, True, CLI)
    assert "(turned off by an administrator)" in (await browser.http.get("/account")).text
    action, csrf = await _revoke_form(browser.http, webapp.client_id)
    response = await browser.http.post(action, data={"csrf_token": csrf})
    assert response.status_code == 303
    assert NONE_ALLOWED in (await browser.http.get("/account")).text


async def test_app_names_are_escaped(browser: Browser, container: Container, alice: str) -> None:
    client, secret = await container.clients.create(
        CLI,
        name="<script>alert(1)</script>",
        grant_types=["authorization_code"],
        redirect_uris=[WEB_REDIRECT],
    )
    await code_flow(browser, Registered(client.client_id, secret), WEB_REDIRECT, "openid")
    page = (await browser.http.get("/account")).text
    assert "<script>" not in page
    assert "<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>" in page


async def test_signed_in_authorization_with_a_malformed_client_id_is_an_error_page(
    browser: Browser, alice: str
) -> None:
    """The remembered consent is looked up before the client is checked: a NUL in the
    client id must not reach the database (PostgreSQL refuses it: a 500)."""
    await browser.login()
    response = await browser.http.get(
        "/oauth/authorize", params={"client_id": "\x00", "response_type": "code"}
    )
    assert response.status_code == 400
    assert "Unknown or disabled client" in response.text
