"""RFC 7009 (token revocation): access tokens (a deny list until they expire), refresh
tokens (with their whole grant, §2.1), 200 for unknown tokens (§2.2), and only the
client a token was issued to may revoke it (§2.1)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import (
    REVOKE,
    SPA_REDIRECT,
    USERINFO,
    WEB_REDIRECT,
    Browser,
    Registered,
    assert_oauth_error,
    client_credentials,
    code_flow,
    introspect,
    refresh,
    sqlite_only,
    token_request,
)

INACTIVE = {"active": False}


async def _revoke(
    http: httpx.AsyncClient, client: Registered, token: str, **form: str
) -> httpx.Response:
    method = "basic" if client.secret else "none"
    response = await token_request(
        http, {"token": token, **form}, client, method=method, path=REVOKE
    )
    return response


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"], ids=str)
@sqlite_only
async def test_revoke_access_token(
    browser: Browser,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
    hint: str | None,
) -> None:
    """§2.1–2.2: 200, and the token stops working at once (introspection, UserInfo) —
    whatever the hint says (§2.1: the server extends its search)."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid orders:read")
    extra = {"token_type_hint": hint} if hint else {}
    response = await _revoke(browser.http, webapp, tokens["access_token"], **extra)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert await introspect(browser.http, resource_server, tokens["access_token"]) == INACTIVE
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await browser.http.get(USERINFO, headers=bearer)).status_code == 401


async def test_revoke_client_credentials_token(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    other = (await client_credentials(http, service))["access_token"]
    assert (await _revoke(http, service, token)).status_code == 200
    assert await introspect(http, resource_server, token) == INACTIVE
    assert (await introspect(http, resource_server, other))["active"] is True


async def test_revoke_refresh_token_ends_the_grant(
    browser: Browser, webapp: Registered, resource_server: Registered, alice: str
) -> None:
    """§2.1: revoking a refresh token should also invalidate the access tokens of the same
    authorization grant (AuthGate does)."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "orders:read")
    response = await _revoke(
        browser.http, webapp, tokens["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    refreshed = await refresh(browser.http, webapp, tokens["refresh_token"])
    assert_oauth_error(refreshed, "invalid_grant", 400)
    assert await introspect(browser.http, resource_server, tokens["access_token"]) == INACTIVE


async def test_public_client_revokes_its_own_token(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """§2.1 / RFC 6749 §2.1: a public client identifies itself with client_id."""
    tokens = await code_flow(browser, spa, SPA_REDIRECT, "orders:read")
    assert (await _revoke(browser.http, spa, tokens["refresh_token"])).status_code == 200
    refreshed = await refresh(browser.http, spa, tokens["refresh_token"])
    assert_oauth_error(refreshed, "invalid_grant", 400)


@pytest.mark.parametrize(
    "token", ["unknown", "agrt_" + "A" * 43, "a.b.c"], ids=["garbage", "refresh-like", "jwt-like"]
)
@sqlite_only
async def test_unknown_token_is_200(
    http: httpx.AsyncClient, service: Registered, token: str
) -> None:
    """§2.2: "invalid tokens do not cause an error response"."""
    response = await _revoke(http, service, token)
    assert response.status_code == 200


async def test_another_clients_tokens_are_not_revoked(
    browser: Browser,
    spa: Registered,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
) -> None:
    """§2.1: the server checks the token was issued to the requesting client; another
    client's request does not revoke it (and still answers 200, telling nothing)."""
    tokens = await code_flow(browser, spa, SPA_REDIRECT, "orders:read")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert (await _revoke(browser.http, webapp, token)).status_code == 200
    assert (await introspect(browser.http, resource_server, tokens["access_token"]))["active"]
    assert (await refresh(browser.http, spa, tokens["refresh_token"])).status_code == 200


@sqlite_only
async def test_unauthenticated_request_is_invalid_client(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    """§2.1: the client authenticates (RFC 6749 §2.3); §2.2.1 errors per RFC 6749 §5.2."""
    token = (await client_credentials(http, service))["access_token"]
    response = await http.post(REVOKE, data={"token": token})
    assert_oauth_error(response, "invalid_client", 401)
    wrong = await http.post(REVOKE, data={"token": token}, auth=(service.client_id, "agcs_no"))
    assert_oauth_error(wrong, "invalid_client", 401)
    assert "www-authenticate" in wrong.headers
    assert (await introspect(http, resource_server, token))["active"] is True


@sqlite_only
async def test_token_parameter_is_required(http: httpx.AsyncClient, service: Registered) -> None:
    """§2.1: ``token`` is REQUIRED."""
    form = {"token_type_hint": "access_token"}
    response = await token_request(http, form, service, path=REVOKE)
    body = assert_oauth_error(response, "invalid_request", 400)
    assert "token" in body["error_description"]
