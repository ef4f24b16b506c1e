"""OpenID Connect Core 1.0: the ID token (§2, §3.1.3.6, §3.1.3.7), UserInfo (§5.3 with
RFC 6750 §3.1 errors), and RP-Initiated Logout 1.0 (§2, §3)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    LOGOUT,
    ORDERS,
    REVOKE,
    USERINFO,
    WEB_LOGGED_OUT,
    WEB_REDIRECT,
    Browser,
    Pkce,
    Registered,
    client_credentials,
    code_flow,
    code_request,
    redirect_params,
    sqlite_only,
    token_request,
    verify_jwt,
)

_PARAMS = re.compile(r'name="params" value="([^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def _at_hash(access_token: str, alg: str) -> str:
    """§3.1.3.6: base64url of the left-most half of the hash of the ASCII access token,
    with the hash of the ID token's ``alg`` (SHA-256 for RS256/ES256/PS256)."""
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[-3:]]
    full = digest(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(full[: len(full) // 2]).rstrip(b"=").decode("ascii")


async def _id_token(
    browser: Browser,
    container: Container,
    client: Registered,
    scope: str = "openid profile email orders:read",
    leeway: timedelta = timedelta(0),
    **extra: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(token response, ID token header, verified ID token claims)."""
    tokens = await code_flow(browser, client, WEB_REDIRECT, scope, **extra)
    header = jwt.get_unverified_header(tokens["id_token"])
    claims = await verify_jwt(
        browser.http,
        tokens["id_token"],
        audience=client.client_id,
        issuer=container.settings.issuer,
        leeway=leeway,
    )
    return tokens, header, claims


# -- the ID token -----------------------------------------------------------------------


async def test_id_token_claims(
    browser: Browser, container: Container, clock: FrozenClock, webapp: Registered, alice: str
) -> None:
    """§2 and §3.1.3.6/§3.1.3.7: iss, sub, aud, exp, iat, auth_time, nonce, at_hash, amr;
    signed RS256 by default, verifiable against the JWKS."""
    login_time = int(clock.now().timestamp())
    tokens, header, claims = await _id_token(browser, container, webapp, nonce="n-0S6_WzA2Mj")
    assert header["alg"] == "RS256"
    assert claims["iss"] == container.settings.issuer
    assert claims["sub"] == alice
    assert claims["aud"] == webapp.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["auth_time"] == login_time
    assert claims["amr"] == ["pwd"]
    assert claims["at_hash"] == _at_hash(tokens["access_token"], header["alg"])
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"


@sqlite_only
async def test_no_nonce_no_nonce_claim(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """§3.1.2.1: nonce is optional in the code flow; the ID token carries one only when the
    request did (§2)."""
    _, _, claims = await _id_token(browser, container, webapp, scope="openid")
    assert "nonce" not in claims
    assert "email" not in claims and "preferred_username" not in claims


async def test_amr_shows_the_second_factor(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """§2 ``amr`` (values from RFC 8176 §2): a TOTP login shows ``pwd`` and ``otp``, in the
    ID token and in the access token."""
    enrolment = await container.mfa.activate(alice, container.mfa.new_secret(), CLI)
    browser.totp_secret = enrolment.secret
    tokens, _, claims = await _id_token(browser, container, webapp)
    assert "/login/mfa" in browser.pages
    assert claims["amr"] == ["pwd", "otp"]
    access = await verify_jwt(
        browser.http, tokens["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert access["amr"] == ["pwd", "otp"]


async def test_auth_time_is_the_login_and_max_age_forces_a_new_one(
    browser: Browser, container: Container, clock: FrozenClock, webapp: Registered, alice: str
) -> None:
    """§2 ``auth_time`` is when the user authenticated, not when the token was issued;
    §3.1.2.1 ``max_age``: an older login must authenticate again."""
    login_time = int(clock.now().timestamp())
    await _id_token(browser, container, webapp)
    clock.advance(timedelta(minutes=10))
    later = timedelta(minutes=11)
    _, _, claims = await _id_token(browser, container, webapp, leeway=later)
    assert browser.pages == []
    assert claims["auth_time"] == login_time
    assert claims["iat"] == login_time + 600
    _, _, claims = await _id_token(browser, container, webapp, leeway=later, max_age="300")
    assert "/login" in browser.pages
    assert claims["auth_time"] == login_time + 600


async def test_tokens_verify_across_signing_key_rotation(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """Spec §5 / RFC 7517: after an (immediate) rotation new tokens use the new key and
    tokens signed by the old one still verify against the JWKS."""
    before, old_header, _ = await _id_token(browser, container, webapp)
    await container.keys.rotate(CLI, immediate=True)
    after, new_header, _ = await _id_token(browser, container, webapp)
    assert new_header["kid"] != old_header["kid"]
    issuer = container.settings.issuer
    for tokens in (before, after):
        await verify_jwt(browser.http, tokens["id_token"], audience=webapp.client_id, issuer=issuer)
        await verify_jwt(browser.http, tokens["access_token"], audience=ORDERS, issuer=issuer)


async def test_refresh_issues_an_id_token_for_the_original_login(
    browser: Browser, container: Container, clock: FrozenClock, webapp: Registered, alice: str
) -> None:
    """§12.2: an ID token from a refresh keeps iss, sub, aud and the original
    ``auth_time``; its ``at_hash`` is that of the new access token."""
    login_time = int(clock.now().timestamp())
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid offline_access")
    clock.advance(timedelta(minutes=20))
    response = await token_request(
        browser.http,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        webapp,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    header = jwt.get_unverified_header(body["id_token"])
    claims = await verify_jwt(
        browser.http,
        body["id_token"],
        audience=webapp.client_id,
        issuer=container.settings.issuer,
        leeway=timedelta(minutes=21),
    )
    assert claims["sub"] == alice
    assert claims["auth_time"] == login_time
    assert claims["iat"] == login_time + 1200
    assert claims["at_hash"] == _at_hash(body["access_token"], header["alg"])


# -- UserInfo ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@sqlite_only
async def test_userinfo(
    browser: Browser, container: Container, webapp: Registered, alice: str, method: str
) -> None:
    """§5.3.1–5.3.2: the Bearer token of an ``openid`` grant returns the user's claims,
    limited by the granted scope (§5.4)."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid email")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = await browser.http.request(method, USERINFO, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": alice, "email": "alice@example.com"}
    assert response.headers["cache-control"] == "no-store"


def _tamper(token: str) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature[:-4]}AAAA"


@pytest.mark.parametrize(
    "kind", ["garbage", "tampered", "expired", "revoked"], ids=lambda kind: kind
)
@sqlite_only
async def test_userinfo_bad_token_is_invalid_token(
    browser: Browser,
    container: Container,
    clock: FrozenClock,
    webapp: Registered,
    alice: str,
    kind: str,
) -> None:
    """§5.3.3 / RFC 6750 §3.1: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid")
    token = tokens["access_token"]
    if kind == "garbage":
        token = "not-a-token"
    elif kind == "tampered":
        token = _tamper(token)
    elif kind == "expired":
        clock.advance(timedelta(minutes=15, seconds=1))
    else:
        form = {"token": token, "token_type_hint": "access_token"}
        revoked = await token_request(browser.http, form, webapp, path=REVOKE)
        assert revoked.status_code == 200
    response = await browser.http.get(USERINFO, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


@sqlite_only
async def test_userinfo_without_token(http: httpx.AsyncClient) -> None:
    """RFC 6750 §3.1: no credentials → 401 with a Bearer challenge and no error code."""
    response = await http.get(USERINFO)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert "error=" not in challenge


@sqlite_only
async def test_userinfo_needs_the_openid_scope(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§5.3: UserInfo is for tokens of an OpenID Connect request; RFC 6750 §3.1
    ``insufficient_scope`` is 403."""
    token = (await client_credentials(http, service))["access_token"]
    response = await http.get(USERINFO, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


# -- RP-initiated logout ----------------------------------------------------------------


async def _logout(http: httpx.AsyncClient, **query: str) -> httpx.Response:
    """Open the end-session endpoint (§2) and confirm the sign-out form."""
    page = await http.get(LOGOUT, params=query)
    assert page.status_code == 200
    params, csrf = _PARAMS.search(page.text), _CSRF.search(page.text)
    assert params and csrf
    return await http.post(
        LOGOUT, data={"params": html.unescape(params.group(1)), "csrf_token": csrf.group(1)}
    )


async def _silent(browser: Browser, client: Registered) -> str:
    """``prompt=none``: "code" while signed in (and consented), else the error."""
    params = code_request(client, WEB_REDIRECT, "openid", Pkce.new(), prompt="none")
    result = redirect_params(await browser.authorize(params), WEB_REDIRECT)
    return "code" if "code" in result else result["error"]


async def test_logout_to_a_registered_uri(browser: Browser, webapp: Registered, alice: str) -> None:
    """RP-Initiated Logout §2–3: the session ends and the user goes to the registered
    ``post_logout_redirect_uri`` with ``state``."""
    await code_flow(browser, webapp, WEB_REDIRECT, "openid")
    assert await _silent(browser, webapp) == "code"
    response = await _logout(
        browser.http,
        client_id=webapp.client_id,
        post_logout_redirect_uri=WEB_LOGGED_OUT,
        state="bye-42",
    )
    assert response.status_code in (302, 303)
    assert response.headers["location"] == f"{WEB_LOGGED_OUT}?state=bye-42"
    assert await _silent(browser, webapp) == "login_required"


@sqlite_only
async def test_logout_with_id_token_hint(browser: Browser, webapp: Registered, alice: str) -> None:
    """§2: ``id_token_hint`` identifies the client whose registered URIs apply."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid")
    response = await _logout(
        browser.http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=WEB_LOGGED_OUT
    )
    assert response.headers["location"] == WEB_LOGGED_OUT


@pytest.mark.parametrize(
    "target",
    [
        "https://attacker.example.com/",
        WEB_LOGGED_OUT + "/",
        WEB_LOGGED_OUT + "?next=https://attacker.example.com/",
        WEB_REDIRECT,
    ],
    ids=["other-host", "trailing-slash", "extra-query", "login-redirect-uri"],
)
@sqlite_only
async def test_logout_ignores_unregistered_uris(
    browser: Browser, webapp: Registered, alice: str, target: str
) -> None:
    """§3: only a registered post-logout redirect URI (matched exactly) is honoured;
    anything else ends on AuthGate's own page — and the session still ends."""
    await code_flow(browser, webapp, WEB_REDIRECT, "openid")
    response = await _logout(
        browser.http, client_id=webapp.client_id, post_logout_redirect_uri=target
    )
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/")
    assert await _silent(browser, webapp) == "login_required"
