"""RFC 6749 §4.1 (authorization code grant) with PKCE (RFC 7636), the authorization
response's ``iss`` (RFC 9207), OpenID Connect ``prompt`` (Core §3.1.2.1, §3.1.2.6) and
the RFC 9700 (Security BCP) cases: code replay, PKCE downgrade, redirect URI matching."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.log import AuditFilter
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    AUTHORIZE,
    ORDERS,
    SPA_REDIRECT,
    WEB_REDIRECT,
    Browser,
    Pkce,
    Registered,
    assert_oauth_error,
    code_request,
    introspect,
    redeem,
    redirect_params,
    refresh,
    sqlite_only,
    token_request,
    verify_jwt,
)


async def _code(
    browser: Browser, client: Registered, redirect_uri: str, pkce: Pkce | None, **extra: str
) -> str:
    params = code_request(client, redirect_uri, pkce=pkce, **extra)
    result = redirect_params(await browser.authorize(params), redirect_uri)
    return result["code"]


# -- the flow ---------------------------------------------------------------------------


async def test_full_flow_with_pkce(
    browser: Browser, container: Container, spa: Registered, alice: str
) -> None:
    """§4.1.1–4.1.4 with RFC 7636 §4: login, consent, a code in the redirect together with
    ``state`` (§4.1.2) and ``iss`` (RFC 9207 §2), then tokens for the code and verifier."""
    issuer = container.settings.issuer
    pkce = Pkce.new()
    params = code_request(spa, SPA_REDIRECT, "openid orders:read", pkce)
    result = redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert browser.pages[0] == "/login" and "/oauth/consent" in browser.pages
    assert result["state"] == params["state"]
    assert result["iss"] == issuer
    assert result["code"].startswith("agac_")
    response = await redeem(browser.http, spa, result["code"], SPA_REDIRECT, pkce.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "openid orders:read"
    assert "id_token" in body
    claims = await verify_jwt(browser.http, body["access_token"], audience=ORDERS, issuer=issuer)
    assert claims["sub"] == alice
    assert claims["client_id"] == spa.client_id


@sqlite_only
async def test_scope_the_user_does_not_hold_is_dropped(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """Spec §1 with RFC 6749 §3.3: alice holds orders:read, not orders:delete; the token
    gets what she holds and the response says so."""
    pkce = Pkce.new()
    code = await _code(browser, spa, SPA_REDIRECT, pkce, scope="orders:read orders:delete")
    response = await redeem(browser.http, spa, code, SPA_REDIRECT, pkce.verifier)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "orders:read"


@sqlite_only
async def test_consent_page_names_client_and_scopes(
    browser: Browser, spa: Registered, alice: str
) -> None:
    params = code_request(spa, SPA_REDIRECT, "openid orders:write", Pkce.new())
    page = await browser.authorize(params, decision=None)
    assert page.status_code == 200
    assert "Shop app" in page.text
    assert "orders:write" in page.text and "openid" in page.text


@sqlite_only
async def test_confidential_client_must_authenticate_to_redeem(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    """§4.1.3: a confidential client authenticates at the token endpoint."""
    pkce = Pkce.new()
    code = await _code(browser, webapp, WEB_REDIRECT, pkce)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": pkce.verifier,
    }
    response = await token_request(browser.http, form, webapp, method="none")
    assert_oauth_error(response, "invalid_client", 401)
    response = await token_request(browser.http, form, webapp, method="post")
    assert response.status_code == 200, response.text


@sqlite_only
async def test_authorization_request_by_post(browser: Browser, spa: Registered, alice: str) -> None:
    """OpenID Connect Core §3.1.2.1: the authorization endpoint must support GET and POST
    (form-serialized parameters)."""
    await _code(browser, spa, SPA_REDIRECT, Pkce.new())  # signed in, consent given
    pkce = Pkce.new()
    params = code_request(spa, SPA_REDIRECT, pkce=pkce)
    code = redirect_params(await browser.http.post(AUTHORIZE, data=params), SPA_REDIRECT)["code"]
    response = await redeem(browser.http, spa, code, SPA_REDIRECT, pkce.verifier)
    assert response.status_code == 200, response.text


@sqlite_only
async def test_loopback_redirect_uri_may_use_any_port(
    browser: Browser, container: Container, alice: str
) -> None:
    """RFC 8252 §7.3: a native app's loopback redirect URI may use any port (the app picks
    one at run time); the rest of the URI still matches exactly."""
    client, _ = await container.clients.create(
        CLI,
        name="Desktop app",
        public=True,
        redirect_uris=["http://127.0.0.1/callback"],
        audiences=[ORDERS],
    )
    native = Registered(client.client_id)
    redirect_uri = "http://127.0.0.1:51234/callback"
    pkce = Pkce.new()
    code = await _code(browser, native, redirect_uri, pkce)
    response = await redeem(browser.http, native, code, redirect_uri, pkce.verifier)
    assert response.status_code == 200, response.text
    other_path = code_request(native, "http://127.0.0.1:51234/other", pkce=Pkce.new())
    assert (await browser.authorize(other_path)).status_code == 400


# -- errors before the client and redirect URI are trusted: a page ----------------------


@sqlite_only
async def test_unknown_client_gets_a_page_not_a_redirect(
    http: httpx.AsyncClient, alice: str
) -> None:
    """§4.1.2.1: with an invalid client_id the server must not redirect."""
    params = {
        "response_type": "code",
        "client_id": "no-such-client",
        "redirect_uri": "https://attacker.example.com/cb",
        "scope": "openid",
        "state": "s",
    }
    response = await http.get(AUTHORIZE, params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "https://app.example.com/Callback",
        "https://app.example.com/callback?next=/admin",
        "https://app.example.com:8443/callback",
        "http://app.example.com/callback",
        "https://attacker.example.com/callback",
        "https://app.example.com.attacker.example/callback",
    ],
    ids=[
        "trailing-slash",
        "host-case",
        "path-case",
        "extra-query",
        "other-port",
        "http",
        "other-host",
        "suffix-host",
    ],
)
@sqlite_only
async def test_unregistered_redirect_uri_gets_a_page(
    browser: Browser, webapp: Registered, alice: str, redirect_uri: str
) -> None:
    """§4.1.2.1 and RFC 9700 §4.1.3: redirect URIs match exactly; a mismatch is shown to
    the user, never redirected, even for an otherwise broken request."""
    params = code_request(webapp, redirect_uri, response_type="token")
    response = await browser.authorize(params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not registered" in response.text


# -- errors after validation: redirected to the client ----------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "orders:read orders:teleport"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
    ids=[
        "implicit",
        "hybrid",
        "unknown-scope",
        "no-scope",
        "public-client-without-pkce",
        "pkce-plain",
        "prompt-none-with-login",
    ],
)
@sqlite_only
async def test_errors_are_redirected_once_the_client_is_known(
    browser: Browser,
    container: Container,
    spa: Registered,
    alice: str,
    change: dict[str, str | None],
    error: str,
) -> None:
    """§4.1.2.1: with a valid client and redirect URI, errors go back to the client with
    ``state`` — and ``iss`` (RFC 9207 §2). PKCE: RFC 7636 §4.4.1, RFC 9700 §2.1.1 (S256,
    required for public clients)."""
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new())
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    result = redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert result["error"] == error
    assert result["state"] == params["state"]
    assert result["iss"] == container.settings.issuer
    assert "code" not in result


@sqlite_only
@pytest.mark.parametrize(
    "scope",
    [
        "openid orders:write",
        pytest.param(
            "openid offline_access orders:read",
        ),
    ],
    ids=["api-scope", "oidc-scope"],
)
async def test_scope_outside_the_clients_list_is_invalid_scope(
    browser: Browser, container: Container, alice: str, scope: str
) -> None:
    """Spec §1 / §4.1.2.1 ``invalid_scope``: a client registered with a scope list may
    request only those scopes (``offline_access`` included: it would bring refresh
    tokens), and the error goes back to it."""
    client, _ = await container.clients.create(
        CLI,
        name="Narrow app",
        public=True,
        scopes=["openid", "orders:read"],
        redirect_uris=[SPA_REDIRECT],
        audiences=[ORDERS],
    )
    params = code_request(Registered(client.client_id), SPA_REDIRECT, scope, Pkce.new())
    result = redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert result.get("error") == "invalid_scope", result


@sqlite_only
async def test_prompt_none_without_session_is_login_required(
    browser: Browser, container: Container, spa: Registered, alice: str
) -> None:
    """OpenID Connect Core §3.1.2.6: ``login_required`` instead of a login page."""
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new(), prompt="none")
    result = redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert result["error"] == "login_required"
    assert result["state"] == params["state"]
    assert result["iss"] == container.settings.issuer
    assert browser.pages == []


@sqlite_only
async def test_prompt_none_without_consent_is_consent_required(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """OpenID Connect Core §3.1.2.6: signed in, but never agreed to this client."""
    await browser.login()
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new(), prompt="none")
    result = redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert result["error"] == "consent_required"
    assert browser.pages == []


@sqlite_only
async def test_prompt_login_asks_for_the_password_again(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` re-authenticates a signed-in user,
    once."""
    await _code(browser, spa, SPA_REDIRECT, Pkce.new())
    browser.tick = timedelta(seconds=1)
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new(), prompt="login")
    assert "code" in redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert browser.pages.count("/login") == 1


@sqlite_only
async def test_max_age_zero_is_like_prompt_login(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """OpenID Connect Core §3.1.2.1: "max_age=0 is equivalent to prompt=login" — one fresh
    login, then the code (however long the browser takes between the steps)."""
    await _code(browser, spa, SPA_REDIRECT, Pkce.new())
    browser.tick = timedelta(seconds=1)
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new(), max_age="0")
    assert "code" in redirect_params(await browser.authorize(params), SPA_REDIRECT)
    assert browser.pages.count("/login") == 1


async def test_consent_is_remembered(browser: Browser, spa: Registered, alice: str) -> None:
    """Consent is remembered per user, client and scope set: the second run goes straight
    back to the client, and a wider scope asks again."""
    await _code(browser, spa, SPA_REDIRECT, Pkce.new())
    assert "/oauth/consent" in browser.pages
    await _code(browser, spa, SPA_REDIRECT, Pkce.new())
    assert browser.pages == []
    await _code(browser, spa, SPA_REDIRECT, Pkce.new(), scope="openid orders:read orders:write")
    assert browser.pages == ["/oauth/consent"]
    # prompt=none now succeeds: signed in, consented.
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new(), prompt="none")
    assert "code" in redirect_params(await browser.authorize(params), SPA_REDIRECT)


@sqlite_only
async def test_first_party_client_skips_consent(
    browser: Browser, container: Container, alice: str
) -> None:
    client, _ = await container.clients.create(
        CLI,
        name="AuthGate console",
        public=True,
        first_party=True,
        redirect_uris=[SPA_REDIRECT],
        audiences=[ORDERS],
    )
    await _code(browser, Registered(client.client_id), SPA_REDIRECT, Pkce.new())
    assert "/login" in browser.pages
    assert "/oauth/consent" not in browser.pages


@sqlite_only
async def test_deny_is_access_denied(
    browser: Browser, container: Container, spa: Registered, alice: str
) -> None:
    """§4.1.2.1 ``access_denied``: the user said no."""
    params = code_request(spa, SPA_REDIRECT, pkce=Pkce.new())
    result = redirect_params(await browser.authorize(params, decision="deny"), SPA_REDIRECT)
    assert result["error"] == "access_denied"
    assert result["state"] == params["state"]
    assert result["iss"] == container.settings.issuer


# -- the token request ------------------------------------------------------------------


async def test_code_replay_fails_and_revokes_the_first_tokens(
    browser: Browser,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
    container: Container,
) -> None:
    """§4.1.2 and §10.5: a code is used once; a second use is refused and the server
    should revoke the tokens issued from it (RFC 9700 §4.5)."""
    pkce = Pkce.new()
    code = await _code(browser, webapp, WEB_REDIRECT, pkce, scope="orders:read")
    first = await redeem(browser.http, webapp, code, WEB_REDIRECT, pkce.verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert (await introspect(browser.http, resource_server, tokens["access_token"]))["active"]
    again = await redeem(browser.http, webapp, code, WEB_REDIRECT, pkce.verifier)
    assert_oauth_error(again, "invalid_grant", 400)
    assert await introspect(browser.http, resource_server, tokens["access_token"]) == {
        "active": False
    }
    refreshed = await refresh(browser.http, webapp, tokens["refresh_token"])
    assert_oauth_error(refreshed, "invalid_grant", 400)
    # The replay is a security event: the client that presented the code, from where.
    where = AuditFilter(tags=("oauth:code:replayed",))
    (event,) = [e async for e in container.audit.export(where)]
    assert (event.actor, event.scope) == (f"client:{webapp.client_id}", "/")
    assert event.source_ip and event.request_id


@pytest.mark.parametrize(
    "redirect_uri",
    [None, "https://app.example.com/callback/", "https://app.example.com/other"],
    ids=["missing", "trailing-slash", "other-path"],
)
@sqlite_only
async def test_redirect_uri_must_match_at_the_token_endpoint(
    browser: Browser, webapp: Registered, alice: str, redirect_uri: str | None
) -> None:
    """§4.1.3: the redirect_uri sent with the authorization request must be sent again,
    identical."""
    pkce = Pkce.new()
    code = await _code(browser, webapp, WEB_REDIRECT, pkce)
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    response = await token_request(browser.http, form, webapp)
    assert_oauth_error(response, "invalid_grant", 400)


async def test_redirect_uri_may_be_left_out_when_the_request_left_it_out(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    """§4.1.3: redirect_uri is required at the token endpoint only "if the redirect_uri
    parameter was included in the authorization request"; with one registered URI the
    request may leave it out (§3.1.2.3)."""
    pkce = Pkce.new()
    params = code_request(webapp, WEB_REDIRECT, pkce=pkce)
    del params["redirect_uri"]
    code = redirect_params(await browser.authorize(params), WEB_REDIRECT)["code"]
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier}
    response = await token_request(browser.http, form, webapp)
    assert response.status_code == 200, response.text


async def test_another_clients_code_is_refused(
    browser: Browser, container: Container, spa: Registered, alice: str
) -> None:
    """§4.1.3: the code must have been issued to the authenticated client — here another
    public client that registered the same redirect URI."""
    other, _ = await container.clients.create(
        CLI, name="Copycat", public=True, redirect_uris=[SPA_REDIRECT], audiences=[ORDERS]
    )
    pkce = Pkce.new()
    code = await _code(browser, spa, SPA_REDIRECT, pkce)
    stolen = await redeem(
        browser.http, Registered(other.client_id), code, SPA_REDIRECT, pkce.verifier
    )
    assert_oauth_error(stolen, "invalid_grant", 400)


@sqlite_only
async def test_confidential_client_cannot_redeem_a_public_clients_code(
    browser: Browser, spa: Registered, webapp: Registered, alice: str
) -> None:
    pkce = Pkce.new()
    code = await _code(browser, spa, SPA_REDIRECT, pkce)
    stolen = await redeem(browser.http, webapp, code, SPA_REDIRECT, pkce.verifier)
    assert_oauth_error(stolen, "invalid_grant", 400)


async def test_expired_code_is_invalid_grant(
    browser: Browser, clock: FrozenClock, spa: Registered, alice: str
) -> None:
    """§4.1.2: codes are short-lived; AuthGate's live 60 seconds (spec §5)."""
    pkce = Pkce.new()
    code = await _code(browser, spa, SPA_REDIRECT, pkce)
    clock.advance(timedelta(seconds=61))
    response = await redeem(browser.http, spa, code, SPA_REDIRECT, pkce.verifier)
    assert_oauth_error(response, "invalid_grant", 400)


async def test_code_within_its_lifetime_is_accepted(
    browser: Browser, clock: FrozenClock, spa: Registered, alice: str
) -> None:
    pkce = Pkce.new()
    code = await _code(browser, spa, SPA_REDIRECT, pkce)
    clock.advance(timedelta(seconds=59))
    response = await redeem(browser.http, spa, code, SPA_REDIRECT, pkce.verifier)
    assert response.status_code == 200, response.text


@sqlite_only
async def test_unknown_code_is_invalid_grant(http: httpx.AsyncClient, spa: Registered) -> None:
    response = await redeem(http, spa, "agac_" + "x" * 43, SPA_REDIRECT, Pkce.new().verifier)
    assert_oauth_error(response, "invalid_grant", 400)


# -- PKCE downgrade (RFC 7636 §4.6, RFC 9700 §4.8.2) ------------------------------------


@pytest.mark.parametrize(
    "verifier",
    [None, Pkce.new().verifier, "too-short"],
    ids=["no-verifier", "wrong-verifier", "malformed-verifier"],
)
@sqlite_only
async def test_pkce_verifier_failures(
    browser: Browser, spa: Registered, alice: str, verifier: str | None
) -> None:
    """RFC 7636 §4.6: without the matching verifier the code is worth nothing."""
    code = await _code(browser, spa, SPA_REDIRECT, Pkce.new())
    response = await redeem(browser.http, spa, code, SPA_REDIRECT, verifier)
    assert_oauth_error(response, "invalid_grant", 400)


@sqlite_only
async def test_verifier_for_a_code_without_challenge_is_refused(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    """RFC 9700 §4.8.2: a code_verifier for a code issued without code_challenge means the
    challenge was stripped (a downgrade); refuse it."""
    code = await _code(browser, webapp, WEB_REDIRECT, None)
    response = await redeem(browser.http, webapp, code, WEB_REDIRECT, Pkce.new().verifier)
    assert_oauth_error(response, "invalid_grant", 400)


@sqlite_only
async def test_confidential_client_without_pkce_still_works(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    """RFC 7636 is required for public clients only (issue: "accepted for all")."""
    code = await _code(browser, webapp, WEB_REDIRECT, None)
    response = await redeem(browser.http, webapp, code, WEB_REDIRECT, None)
    assert response.status_code == 200, response.text
