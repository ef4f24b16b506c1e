"""RFC 6749 §6 (refreshing an access token) with rotation and reuse detection (RFC 9700
§4.14.2), and OpenID Connect Core §11 (``offline_access``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    ORDERS,
    SPA_REDIRECT,
    WEB_REDIRECT,
    Browser,
    Registered,
    assert_oauth_error,
    code_flow,
    introspect,
    refresh,
    sqlite_only,
    verify_jwt,
)


async def _tokens(browser: Browser, client: Registered, scope: str) -> dict[str, Any]:
    redirect_uri = WEB_REDIRECT if client.secret else SPA_REDIRECT
    return await code_flow(browser, client, redirect_uri, scope)


async def _refreshed(browser: Browser, client: Registered, token: str, **form: str) -> Any:
    response = await refresh(browser.http, client, token, **form)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def test_every_refresh_rotates_the_refresh_token(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """§6 with RFC 9700 §4.14.2: each use returns a new refresh token and access token."""
    first = await _tokens(browser, webapp, "orders:read")
    second = await _refreshed(browser, webapp, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    assert second["scope"] == "orders:read"
    claims = await verify_jwt(
        browser.http, second["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert claims["sub"] == alice
    third = await _refreshed(browser, webapp, second["refresh_token"])
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}


async def test_used_refresh_token_is_refused(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    first = await _tokens(browser, webapp, "orders:read")
    await _refreshed(browser, webapp, first["refresh_token"])
    again = await refresh(browser.http, webapp, first["refresh_token"])
    assert_oauth_error(again, "invalid_grant", 400)


async def test_reuse_revokes_the_whole_family(
    browser: Browser, webapp: Registered, resource_server: Registered, alice: str
) -> None:
    """RFC 9700 §4.14.2: when a used refresh token comes back, one copy is in the wrong
    hands; the server revokes the active refresh token too, and (spec §5) the family's
    access tokens."""
    first = await _tokens(browser, webapp, "orders:read")
    second = await _refreshed(browser, webapp, first["refresh_token"])
    replay = await refresh(browser.http, webapp, first["refresh_token"])
    assert_oauth_error(replay, "invalid_grant", 400)
    newest = await refresh(browser.http, webapp, second["refresh_token"])
    assert_oauth_error(newest, "invalid_grant", 400)
    assert await introspect(browser.http, resource_server, second["access_token"]) == {
        "active": False
    }


async def test_scope_may_be_narrowed(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """§6: the requested scope must not include any scope not originally granted; less is
    fine."""
    first = await _tokens(browser, webapp, "orders:read orders:write")
    assert first["scope"] == "orders:read orders:write"
    narrow = await _refreshed(browser, webapp, first["refresh_token"], scope="orders:read")
    assert narrow["scope"] == "orders:read"
    claims = await verify_jwt(
        browser.http, narrow["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert claims["scope"] == "orders:read"


async def test_narrowing_keeps_the_refresh_tokens_scope(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    """§6: "If a new refresh token is issued, the refresh token scope MUST be identical to
    that of the refresh token included by the client in the request." Only the access
    token is narrowed; the next refresh may ask for the original scope again."""
    first = await _tokens(browser, webapp, "orders:read orders:write")
    narrow = await _refreshed(browser, webapp, first["refresh_token"], scope="orders:read")
    back = await refresh(
        browser.http, webapp, narrow["refresh_token"], scope="orders:read orders:write"
    )
    assert back.status_code == 200, back.text
    assert back.json()["scope"] == "orders:read orders:write"


@pytest.mark.parametrize(
    "scope",
    ["orders:read orders:write", "orders:delete", "openid"],
    ids=["held-but-not-granted", "not-held", "oidc-scope"],
)
@sqlite_only
async def test_scope_may_not_be_widened(
    browser: Browser, webapp: Registered, alice: str, scope: str
) -> None:
    """§6 / §5.2 ``invalid_scope``: a refresh never adds scope (RFC 9700 §4.14)."""
    first = await _tokens(browser, webapp, "orders:read")
    wider = await refresh(browser.http, webapp, first["refresh_token"], scope=scope)
    assert_oauth_error(wider, "invalid_scope", 400)
    # The refused request did not spend the token.
    await _refreshed(browser, webapp, first["refresh_token"])


async def test_another_clients_refresh_token_is_refused(
    browser: Browser, spa: Registered, webapp: Registered, alice: str
) -> None:
    """§6: the refresh token is bound to the client it was issued to; the attempt does not
    burn it for its owner."""
    tokens = await _tokens(browser, spa, "orders:read")
    stolen = await refresh(browser.http, webapp, tokens["refresh_token"])
    assert_oauth_error(stolen, "invalid_grant", 400)
    await _refreshed(browser, spa, tokens["refresh_token"])


@sqlite_only
async def test_public_client_refreshes_without_a_secret(
    browser: Browser, spa: Registered, alice: str
) -> None:
    """§6 / §2.1: a public client identifies itself with client_id alone."""
    tokens = await _tokens(browser, spa, "orders:read")
    body = await _refreshed(browser, spa, tokens["refresh_token"])
    assert body["scope"] == "orders:read"


@pytest.mark.parametrize(
    ("scope", "refresh_issued"),
    [
        ("openid orders:read", False),
        ("openid offline_access orders:read", True),
        ("orders:read", True),
    ],
    ids=["openid-only", "openid-offline-access", "plain-oauth"],
)
@sqlite_only
async def test_offline_access_governs_refresh_tokens_with_openid(
    browser: Browser, webapp: Registered, alice: str, scope: str, refresh_issued: bool
) -> None:
    """OpenID Connect Core §11: with ``openid``, a refresh token only for
    ``offline_access``; plain OAuth 2.0 requests get one when the client may refresh."""
    tokens = await _tokens(browser, webapp, scope)
    assert ("refresh_token" in tokens) is refresh_issued
    if refresh_issued:
        body = await _refreshed(browser, webapp, tokens["refresh_token"])
        assert body["scope"] == tokens["scope"]


async def test_idle_refresh_token_expires(
    browser: Browser, clock: FrozenClock, webapp: Registered, alice: str
) -> None:
    """Spec §5: refresh tokens expire after 30 days unused."""
    tokens = await _tokens(browser, webapp, "orders:read")
    clock.advance(timedelta(days=29))
    body = await _refreshed(browser, webapp, tokens["refresh_token"])
    clock.advance(timedelta(days=30, seconds=1))
    expired = await refresh(browser.http, webapp, body["refresh_token"])
    assert_oauth_error(expired, "invalid_grant", 400)


async def test_disabled_user_cannot_refresh(
    browser: Browser, container: Container, webapp: Registered, alice: str
) -> None:
    """Spec §7: disabling a user ends what they hold at once."""
    tokens = await _tokens(browser, webapp, "orders:read")
    await container.users.set_disabled("alice", True, CLI)
    response = await refresh(browser.http, webapp, tokens["refresh_token"])
    assert_oauth_error(response, "invalid_grant", 400)


@sqlite_only
async def test_refresh_token_is_required(browser: Browser, webapp: Registered) -> None:
    """§6 / §5.2: a missing required parameter is ``invalid_request``."""
    response = await refresh(browser.http, webapp, "")
    assert_oauth_error(response, "invalid_request", 400)
