"""API keys and opaque access tokens against a real ``authgate serve``: the SDK checks
them by RFC 7662 introspection with its client credentials, caches the answers briefly,
and drops a cached answer when the revocation feed says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from authgate_sdk import InsufficientScope, InvalidToken, TokenVerifier
from authgate_sdk.asgi import BearerAuthMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate.apikeys.format import checksum
from tests.sdk.live import ORDERS, REPORTS, Live

BOUND = 2.0


def verifier_for(live: Live, audience: str = ORDERS, **options: object) -> TokenVerifier:
    return TokenVerifier(
        live.url,
        audience,
        client_id=live.orders_api.client_id,
        client_secret=live.orders_api.secret,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def verifier(live: Live) -> AsyncIterator[TokenVerifier]:
    found = verifier_for(live)
    yield found
    await found.aclose()


# -- API keys --------------------------------------------------------------------------


async def test_user_api_key(live: Live, verifier: TokenVerifier) -> None:
    """An API key owned by a user, limited to orders:read: the claims say it is an API
    key, whose it is and what it may do."""
    created = await asyncio.to_thread(
        live.api_key, "--user", "ursula", "--permission", "orders:read", "--name", "report job"
    )
    claims = await verifier.averify(created["key"], "orders:read")
    assert claims.kind == "api_key"
    assert claims.subject == "u-ursula" and claims.subject_type == "user"
    assert claims.key_id == created["id"] and created["key"].startswith(f"agk_{created['id']}_")
    assert claims.client_id is None and claims.expires_at is None
    assert claims.scopes == {"orders:read"}
    with pytest.raises(InsufficientScope):
        await verifier.averify(created["key"], "orders:write")


async def test_client_api_key_with_expiry(live: Live, verifier: TokenVerifier) -> None:
    created = await asyncio.to_thread(
        live.api_key, "--client", live.service.client_id, "--expires-in", "1h"
    )
    claims = await verifier.averify(created["key"])
    assert claims.kind == "api_key" and claims.subject_type == "client"
    assert claims.client_id == live.service.client_id
    assert claims.expires_at is not None
    assert 3500 < claims.expires_at.timestamp() - time.time() <= 3600


async def test_answers_are_cached_briefly(live: Live) -> None:
    """A key introspected once is not asked about again within the TTL; after it, it is."""
    created = await asyncio.to_thread(live.api_key, "--user", "ursula")
    verifier = verifier_for(live, introspection_ttl=0.3)
    try:
        assert verifier.introspector is not None
        for _ in range(10):
            await verifier.averify(created["key"])
        assert verifier.introspector.requests == 1
        await asyncio.sleep(0.35)
        await verifier.averify(created["key"])
        assert verifier.introspector.requests == 2
    finally:
        await verifier.aclose()


async def test_malformed_keys_are_refused_without_asking(
    live: Live, verifier: TokenVerifier
) -> None:
    """A key with a wrong checksum, cut short, or of another shape never reaches AuthGate
    (spec §5: a typo is rejected without a lookup)."""
    created = await asyncio.to_thread(live.api_key, "--user", "ursula")
    key = created["key"]
    typo = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    for bad in (typo, key[:-1], key + "x", "agk_", "agk_../../etc/passwd", "agk_' OR 1=1 --"):
        with pytest.raises(InvalidToken, match="malformed"):
            await verifier.averify(bad)
    assert verifier.introspector is not None and verifier.introspector.requests == 0


async def test_unknown_keys_flood_costs_one_request_each(
    live: Live, verifier: TokenVerifier
) -> None:
    """A well-formed key AuthGate does not know is inactive (RFC 7662 §2.2); the answer is
    cached briefly, so repeating it does not reach AuthGate again."""
    body = "agk_ABCDEFGHIJKL_" + "x" * 22
    unknown = body + checksum(body)
    results = await asyncio.gather(
        *(verifier.averify(unknown) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidToken) and r.reason == "inactive" for r in results)
    for _ in range(20):
        with pytest.raises(InvalidToken, match="inactive"):
            await verifier.averify(unknown)
    assert verifier.introspector is not None and verifier.introspector.requests == 1


async def test_key_limited_to_networks(live: Live, verifier: TokenVerifier) -> None:
    """AuthGate reports a key's allowed networks; the resource server checks the caller."""
    created = await asyncio.to_thread(
        live.api_key, "--user", "ursula", "--allow-network", "10.0.0.0/8"
    )
    assert (await verifier.averify(created["key"], client_ip="10.1.2.3")).kind == "api_key"
    for address in ("192.0.2.7", None):
        with pytest.raises(InvalidToken, match="network"):
            await verifier.averify(created["key"], client_ip=address)


async def test_revoked_key_is_refused_within_two_seconds(live: Live) -> None:
    """The feed's ``apikey`` event drops the cached answer: a revoked key is refused
    within 2 s though its answer was cached for 30 s."""
    created = await asyncio.to_thread(live.api_key, "--user", "ursula")
    async with verifier_for(live) as verifier:
        assert await verifier.wait_for_feed(10)
        assert (await verifier.averify(created["key"])).kind == "api_key"
        start = time.monotonic()
        await asyncio.to_thread(live.server.cli, "apikey", "revoke", created["id"])
        while True:
            try:
                await verifier.averify(created["key"])
            except InvalidToken as exc:
                assert exc.reason in ("revoked", "inactive"), exc.reason
                break
            assert time.monotonic() - start < 5
            await asyncio.sleep(0.02)
        assert time.monotonic() - start < BOUND


async def test_api_key_needs_client_credentials(live: Live) -> None:
    created = await asyncio.to_thread(live.api_key, "--user", "ursula")
    async with TokenVerifier(live.url, ORDERS) as bare:
        with pytest.raises(InvalidToken, match="client credentials"):
            await bare.averify(created["key"])


async def test_x_api_key_header_in_the_middleware(live: Live, verifier: TokenVerifier) -> None:
    """Spec §5: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``."""
    created = await asyncio.to_thread(
        live.api_key, "--user", "ursula", "--permission", "orders:read"
    )

    async def whoami(request: Request) -> JSONResponse:
        claims = request.state.claims
        return JSONResponse({"subject": claims.subject, "kind": claims.kind})

    app = BearerAuthMiddleware(Starlette(routes=[Route("/me", whoami)]), verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        for headers in (
            {"X-API-Key": created["key"]},
            {"Authorization": f"Bearer {created['key']}"},
        ):
            response = await client.get("/me", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == {"subject": "u-ursula", "kind": "api_key"}
        bad = await client.get("/me", headers={"X-API-Key": created["key"][:-1]})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    limited = BearerAuthMiddleware(
        Starlette(routes=[Route("/me", whoami)]), verifier, permission="orders:write"
    )
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        refused = await client.get("/me", headers={"X-API-Key": created["key"]})
        assert refused.status_code == 403
        assert 'scope="orders:write"' in refused.headers["www-authenticate"]


# -- opaque access tokens --------------------------------------------------------------


async def test_opaque_access_token(live: Live) -> None:
    """An API that chose opaque tokens: the SDK introspects them (RFC 7662) and caches
    the answer; a token for another API is refused (its ``aud``)."""
    token = live.client_token(resource=REPORTS, scope="reports:read")
    assert token.startswith("agat_")
    async with verifier_for(live, REPORTS) as reports, verifier_for(live) as orders:
        claims = await reports.averify(token, "reports:read")
        assert claims.kind == "opaque" and claims.subject == live.service.client_id
        assert claims.scopes == {"reports:read"} and claims.expires_at is not None
        await reports.averify(token)
        assert reports.introspector is not None and reports.introspector.requests == 1
        with pytest.raises(InvalidToken, match="wrong audience"):
            await orders.averify(token)


async def test_revoked_opaque_token_is_refused_within_two_seconds(live: Live) -> None:
    token = live.client_token(resource=REPORTS, scope="reports:read")
    async with verifier_for(live, REPORTS) as verifier:
        assert await verifier.wait_for_feed(10)
        assert (await verifier.averify(token)).kind == "opaque"
        start = time.monotonic()
        live.revoke(token)
        while True:
            try:
                await verifier.averify(token)
            except InvalidToken as exc:
                assert exc.reason in ("revoked", "inactive"), exc.reason
                break
            assert time.monotonic() - start < 5
            await asyncio.sleep(0.02)
        assert time.monotonic() - start < BOUND


def test_sync_verify_introspects(live: Live) -> None:
    created = live.api_key("--user", "ursula", "--permission", "orders:read")
    verifier = verifier_for(live)
    try:
        assert verifier.verify(created["key"], "orders:read").subject == "u-ursula"
        token = live.client_token(resource=REPORTS, scope="reports:read")
        with pytest.raises(InvalidToken, match="wrong audience"):
            verifier.verify(token)
    finally:
        verifier.close()
