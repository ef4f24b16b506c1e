"""RFC 7662 (token introspection): authenticated callers only (§2.1), the response for
live tokens (§2.2), and ``active: false`` for anything that is not live — without saying
why (§2.2, §4)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    BILLING,
    INTROSPECT,
    ORDERS,
    REVOKE,
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


async def test_active_access_token(
    http: httpx.AsyncClient,
    container: Container,
    service: Registered,
    resource_server: Registered,
) -> None:
    """§2.2: active, with scope, client_id, token_type, exp, iat, sub, aud, iss, jti."""
    token = (await client_credentials(http, service, scope="orders:read"))["access_token"]
    body = await introspect(http, resource_server, token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read"
    assert body["client_id"] == body["sub"] == service.client_id
    assert body["aud"] == ORDERS
    assert body["iss"] == container.settings.issuer
    assert body["exp"] == claims["exp"] and body["iat"] == claims["iat"]
    assert body["jti"] == claims["jti"]


async def test_active_user_token(
    browser: Browser, webapp: Registered, resource_server: Registered, alice: str
) -> None:
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "orders:read")
    body = await introspect(browser.http, resource_server, tokens["access_token"])
    assert body["active"] is True
    assert body["sub"] == alice
    assert body["client_id"] == webapp.client_id


@sqlite_only
async def test_hint_does_not_hide_the_token(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    """§2.1: a wrong ``token_type_hint`` must not stop the server finding the token."""
    token = (await client_credentials(http, service))["access_token"]
    body = await introspect(http, resource_server, token, token_type_hint="refresh_token")
    assert body["active"] is True


async def test_refresh_token_introspects_as_refresh_token(
    browser: Browser, webapp: Registered, resource_server: Registered, alice: str
) -> None:
    """§2.2 ``token_type``: refresh tokens are reported as such; a rotated-out one is
    inactive."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "orders:read")
    body = await introspect(browser.http, webapp, tokens["refresh_token"])
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == webapp.client_id
    assert body["sub"] == alice
    assert body["scope"] == "orders:read"
    # §4: a refresh token is described to its own client only; a resource server never
    # holds one, so it learns nothing.
    assert await introspect(browser.http, resource_server, tokens["refresh_token"]) == INACTIVE
    assert (await refresh(browser.http, webapp, tokens["refresh_token"])).status_code == 200
    assert await introspect(browser.http, webapp, tokens["refresh_token"]) == INACTIVE


async def test_a_token_is_described_only_to_its_client_and_its_apis(
    http: httpx.AsyncClient, container: Container, service: Registered, resource_server: Registered
) -> None:
    """§4: the authorization server decides which callers may see a token. An access
    token for the orders API is described to the client it was issued to and to the
    orders API's own client; a client registered for another API gets only inactive."""
    token = (await client_credentials(http, service, resource=ORDERS))["access_token"]
    stranger, secret = await container.clients.create(
        CLI, name="Billing API", grant_types=["client_credentials"], audiences=[BILLING]
    )
    assert (await introspect(http, service, token))["active"] is True
    assert (await introspect(http, resource_server, token))["active"] is True
    outsider = Registered(stranger.client_id, secret)
    assert await introspect(http, outsider, token) == INACTIVE


async def test_expired_token_is_inactive(
    http: httpx.AsyncClient,
    clock: FrozenClock,
    service: Registered,
    resource_server: Registered,
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    clock.advance(timedelta(minutes=14, seconds=59))
    assert (await introspect(http, resource_server, token))["active"] is True
    clock.advance(timedelta(seconds=2))
    assert await introspect(http, resource_server, token) == INACTIVE


async def test_revoked_token_is_inactive(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    revoked = await token_request(http, {"token": token}, service, path=REVOKE)
    assert revoked.status_code == 200
    assert await introspect(http, resource_server, token) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        "unknown",
        "agrt_" + "A" * 43,
        jwt.encode(
            {"iss": "http://127.0.0.1:8080", "sub": "x", "exp": 4102444800, "scope": "orders:*"},
            "a-forged-secret-of-sufficient-length!",
            algorithm="HS256",
            headers={"typ": "at+jwt", "kid": "forged"},
        ),
    ],
    ids=["garbage", "unknown-refresh-token", "forged-jwt"],
)
@sqlite_only
async def test_unknown_token_is_inactive(
    http: httpx.AsyncClient, resource_server: Registered, token: str
) -> None:
    assert await introspect(http, resource_server, token) == INACTIVE


@pytest.mark.parametrize(
    "change", ["disable-user", "disable-client", "delete-client"], ids=lambda change: change
)
async def test_tokens_of_disabled_holders_are_inactive(
    browser: Browser,
    container: Container,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
    change: str,
) -> None:
    """Spec §7: disabling (or deleting) the user or the client ends its tokens: access and
    refresh tokens introspect inactive."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "orders:read")
    if change == "disable-user":
        await container.users.set_disabled("alice", True, CLI)
    elif change == "disable-client":
        await container.clients.set_disabled(webapp.client_id, True, CLI)
    else:
        await container.clients.delete(webapp.client_id, CLI)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert await introspect(browser.http, resource_server, token) == INACTIVE


async def test_tokens_of_a_disabled_service_client_are_inactive(
    http: httpx.AsyncClient,
    container: Container,
    service: Registered,
    resource_server: Registered,
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    await container.clients.set_disabled(service.client_id, True, CLI)
    assert await introspect(http, resource_server, token) == INACTIVE


@sqlite_only
async def test_unauthenticated_caller_is_invalid_client(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    """§2.1: the endpoint requires authorization; RFC 6749 §5.2 ``invalid_client`` 401
    (with ``WWW-Authenticate`` when Basic was tried)."""
    token = (await client_credentials(http, service))["access_token"]
    anonymous = await http.post(INTROSPECT, data={"token": token})
    assert_oauth_error(anonymous, "invalid_client", 401)
    wrong = await http.post(
        INTROSPECT, data={"token": token}, auth=(resource_server.client_id, "agcs_wrong")
    )
    assert_oauth_error(wrong, "invalid_client", 401)
    assert wrong.headers["www-authenticate"].lower().startswith("basic")


@sqlite_only
async def test_public_client_may_not_introspect(
    http: httpx.AsyncClient, service: Registered, spa: Registered
) -> None:
    """§2.1 / §4: a public client has no credential, so it cannot be an authorized
    introspection caller (token scanning)."""
    token = (await client_credentials(http, service))["access_token"]
    response = await token_request(http, {"token": token}, spa, method="none", path=INTROSPECT)
    assert_oauth_error(response, "invalid_client", 401)


@sqlite_only
async def test_token_parameter_is_required(
    http: httpx.AsyncClient, resource_server: Registered
) -> None:
    """§2.1: ``token`` is REQUIRED; RFC 6749 §5.2 ``invalid_request``."""
    form = {"token_type_hint": "access_token"}
    response = await token_request(http, form, resource_server, path=INTROSPECT)
    body = assert_oauth_error(response, "invalid_request", 400)
    assert "token" in body["error_description"]
