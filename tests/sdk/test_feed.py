"""The revocation feed end to end: a real ``authgate serve``, the SDK following its feed,
and revocations made the ways an administrator or a client makes them — RFC 7009
revocation, disabling a user or a client with the CLI — refused by the SDK within 2
seconds while verification stays local. And the feed out of reach: ``health()`` says so
and the fallback policy applies."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from authgate_sdk import InvalidToken, TokenVerifier

from tests.sdk.live import ORDERS, Live
from tests.support.proxy import TcpRelay
from tests.support.server import free_port

BOUND = 2.0  # seconds: the bound the SDK documents


def verifier_for(live: Live, **options: object) -> TokenVerifier:
    return TokenVerifier(
        live.url,
        ORDERS,
        client_id=live.orders_api.client_id,
        client_secret=live.orders_api.secret,
        **options,  # type: ignore[arg-type]
    )


async def refused_after(verifier: TokenVerifier, token: str, since: float) -> float:
    """Seconds from ``since`` until ``averify`` refuses ``token`` as revoked (polled every
    20 ms, given up after 5 s)."""
    while time.monotonic() - since < 5:
        try:
            await verifier.averify(token)
        except InvalidToken as exc:
            assert exc.reason in ("revoked", "inactive"), exc.reason
            return time.monotonic() - since
        await asyncio.sleep(0.02)
    raise AssertionError("the token was still accepted 5 s after it was revoked")


@pytest.fixture
async def following(live: Live) -> TokenVerifier:
    verifier = verifier_for(live, cache_size=1000)
    await verifier.start_feed()
    assert await verifier.wait_for_feed(10), verifier.health()
    yield verifier  # type: ignore[misc]
    await verifier.aclose()


def test_discovery_advertises_the_feed(live: Live) -> None:
    metadata = httpx.get(live.url + "/.well-known/openid-configuration").json()
    assert metadata["revocation_feed_endpoint"] == live.url + "/revocations/v1/feed"


async def test_revoked_jwt_is_refused_within_two_seconds(
    live: Live, following: TokenVerifier
) -> None:
    """RFC 7009 §2: the client revokes its access token; every SDK following the feed
    refuses it within 2 s, although the token is in its verification cache."""
    token = live.client_token()
    other = live.client_token()
    assert (await following.averify(token)).subject == live.service.client_id
    assert following.health()["cached_tokens"] >= 1
    start = time.monotonic()
    live.revoke(token)
    elapsed = await refused_after(following, token, start)
    assert elapsed < BOUND
    assert (await following.averify(other)).subject  # only that token
    health = following.health()
    assert health["feed"] == "connected" and health["revocations"] >= 1
    assert health["last_event_at"] is not None and health["last_seq"] >= 1


async def test_disabled_user_is_refused_within_two_seconds(
    live: Live, following: TokenVerifier
) -> None:
    """Spec §7: disabling a user ends what it holds at once; its unexpired JWT access
    token is refused by the SDK within 2 s of the CLI command."""
    username = await asyncio.to_thread(live.new_user)
    token = await asyncio.to_thread(live.user_token, username)
    claims = await following.averify(token)
    assert claims.subject_type == "user", claims.raw
    start = time.monotonic()
    await asyncio.to_thread(live.server.cli, "user", "disable", username)
    assert await refused_after(following, token, start) < BOUND


async def test_disabled_client_is_refused_within_two_seconds(
    live: Live, following: TokenVerifier
) -> None:
    """Spec §7: likewise for a client disabled with the CLI."""
    registered = await asyncio.to_thread(live.new_client)
    token = live.client_token(registered)
    assert (await following.averify(token)).client_id == registered.client_id
    start = time.monotonic()
    await asyncio.to_thread(live.server.cli, "client", "disable", registered.client_id)
    assert await refused_after(following, token, start) < BOUND
    assert (await following.averify(live.client_token())).subject  # other clients are fine


def test_sync_application_follows_the_feed_from_a_thread(live: Live) -> None:
    """A synchronous application: ``start_feed_thread`` and ``verify``."""
    verifier = verifier_for(live, cache_size=100)
    feed = verifier.start_feed_thread()
    try:
        deadline = time.monotonic() + 10
        while not feed.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert feed.connected, verifier.health()
        assert any(t.name == "authgate-revocation-feed" and t.daemon for t in threading.enumerate())
        token = live.client_token()
        assert verifier.verify(token).subject
        start = time.monotonic()
        live.revoke(token)
        while True:
            try:
                verifier.verify(token)
            except InvalidToken as exc:
                assert exc.reason == "revoked"
                break
            assert time.monotonic() - start < 5, "still accepted after 5 s"
            time.sleep(0.02)
        assert time.monotonic() - start < BOUND
    finally:
        verifier.close()
    assert not any(t.name == "authgate-revocation-feed" for t in threading.enumerate())


async def test_restarted_follower_learns_earlier_revocations(live: Live) -> None:
    """An SDK that starts after a revocation still refuses the token: the feed replays
    every live event before it says it is caught up."""
    token = live.client_token()
    live.revoke(token)
    async with verifier_for(live) as verifier:
        assert await verifier.wait_for_feed(10)
        with pytest.raises(InvalidToken, match="revoked"):
            await verifier.averify(token)


async def test_wrong_client_secret_is_reported_in_health(live: Live) -> None:
    verifier = TokenVerifier(
        live.url, ORDERS, client_id=live.orders_api.client_id, client_secret="wrong", feed_grace=0.2
    )
    await verifier.start_feed(backoff=0.05, max_backoff=0.1)
    try:
        await asyncio.sleep(0.5)
        health = verifier.health()
        assert health["feed"] == "unreachable" and not health["feed_connected"]
        assert "401" in health["last_error"]
        assert health["fallback_active"]
        assert (await verifier.averify(live.client_token())).subject  # still verifies locally
    finally:
        await verifier.aclose()


# -- the feed out of reach -------------------------------------------------------------


def relayed_feed(live: Live) -> TcpRelay:
    port = int(live.url.rsplit(":", 1)[1])
    relay = TcpRelay(("127.0.0.1", port))
    relay.start()
    return relay


async def test_feed_outage_short_cache_then_catch_up(live: Live) -> None:
    """Default policy ``short_cache``: with the feed out of reach beyond the grace,
    ``health()`` says so and verification goes on locally; once the feed is back, the
    SDK resumes after the last event it saw (``Last-Event-ID``) and refuses what was
    revoked meanwhile."""
    relay = relayed_feed(live)
    verifier = verifier_for(live, cache_size=100, feed_grace=0.3, short_cache_ttl=0.2)
    feed_url = f"http://127.0.0.1:{relay.port}/revocations/v1/feed"
    try:
        await verifier.start_feed(feed_url, backoff=0.05, max_backoff=0.2)
        assert await verifier.wait_for_feed(10)
        live.revoke(live.client_token())  # one event, so the follower has a seq to resume at
        for _ in range(250):
            if verifier.health()["last_seq"]:
                break
            await asyncio.sleep(0.02)
        seen = verifier.health()["last_seq"]
        token = live.client_token()
        assert (await verifier.averify(token)).subject
        relay.stop()
        await asyncio.sleep(0.6)
        health = verifier.health()
        assert health["feed"] == "unreachable" and health["fallback_active"]
        assert health["fallback"] == "short_cache"
        assert health["seconds_since_contact"] >= 0.3
        live.revoke(token)
        # Revocations cannot arrive: the token still passes, verified locally (the cached
        # answer is older than short_cache_ttl, so the signature is checked again).
        assert (await verifier.averify(token)).subject
        relay.start()
        start = time.monotonic()
        assert await refused_after(verifier, token, start) < 5
        assert verifier.health()["feed"] == "connected"
        assert verifier.health()["last_seq"] > seen
    finally:
        await verifier.aclose()
        relay.stop()


async def test_feed_outage_with_introspect_policy(live: Live) -> None:
    """Policy ``introspect``: with the feed out of reach, every JWT is also checked by
    introspection (RFC 7662), so a revocation is seen within the introspection cache's
    TTL even without the feed."""
    verifier = verifier_for(
        live, fallback="introspect", feed_grace=0.2, introspection_ttl=0.5, cache_size=100
    )
    dead = f"http://127.0.0.1:{free_port()}/revocations/v1/feed"  # nothing listens
    try:
        await verifier.start_feed(dead, backoff=0.05, max_backoff=0.1)
        token = live.client_token()
        await asyncio.sleep(0.4)
        assert verifier.health()["fallback_active"]
        assert verifier.introspector is not None
        before = verifier.introspector.requests
        assert (await verifier.averify(token)).subject
        assert verifier.introspector.requests == before + 1
        live.revoke(token)
        start = time.monotonic()
        assert await refused_after(verifier, token, start) < 1.0
    finally:
        await verifier.aclose()


async def test_issuer_down_at_start_up_delays_the_feed_not_the_application() -> None:
    """Starting the feed needs no answer from AuthGate: the follower keeps trying in the
    background, and ``health()`` tells the story (connecting, then unreachable)."""
    dead = f"http://127.0.0.1:{free_port()}"
    verifier = TokenVerifier(dead, ORDERS, client_id="c", client_secret="s", feed_grace=0.3)
    async with verifier:
        assert verifier.health()["feed"] == "connecting"
        assert not verifier.health()["fallback_active"]
        await asyncio.sleep(0.5)
        health = verifier.health()
        assert health["feed"] == "unreachable" and health["fallback_active"]
        assert health["seconds_since_contact"] >= 0.3
