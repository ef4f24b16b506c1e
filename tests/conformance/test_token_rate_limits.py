"""Rate limits on the back-channel endpoints (spec §3 ``[rate_limits]``): token requests
per client, failed client authentications per address. A limited request gets 429 with
``Retry-After`` (RFC 6585 §4) and changes nothing; ``AUTHGATE_RATE_LIMITS=off`` lifts
both limits."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.web.app import create_app
from tests.conformance.conftest import (
    INTROSPECT,
    ORDERS,
    REVOKE,
    Registered,
    assert_oauth_error,
    client_credentials,
    token_request,
)
from tests.conftest import REDIS_SKIP, REDIS_URL, empty_database, make_settings

LIMITS = {
    "enabled": True,
    "token_requests_per_client": 3,
    "token_window": "1m",
    "client_auth_failures_per_ip": 3,
    "client_auth_failure_window": "5m",
}


def _replica(container: Container, clock: FrozenClock, **extra: Any) -> Container:
    """Another process over the same database (and master key)."""
    settings = make_settings(
        container.settings.data_dir,
        container.settings.effective_database_url,
        rate_limits=LIMITS,
        **extra,
    )
    return Container.build(settings, clock=clock)


@pytest.fixture
async def container(
    database_url: str, data_dir: Path, clock: FrozenClock
) -> AsyncIterator[Container]:
    """The conformance world, with limits small enough to reach in a test."""
    settings = make_settings(data_dir, database_url, rate_limits=LIMITS)
    built = Container.build(settings, clock=clock, create_master_key=True)
    await empty_database(built.db)
    await built.keys.ensure_initial(CLI)
    yield built
    await built.close()


def _from(container: Container, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=create_app(container.settings, container), client=(address, 41000)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _second_client(container: Container) -> Registered:
    client, secret = await container.clients.create(
        CLI, name="Other sync", grant_types=["client_credentials"], audiences=[ORDERS]
    )
    return Registered(client.client_id, secret)


def _assert_limited(response: httpx.Response) -> int:
    """429 with a whole number of seconds in Retry-After (RFC 9110 §10.2.3)."""
    body = assert_oauth_error(response, "slow_down", 429)
    assert "retry" in body["error_description"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert response.headers["cache-control"] == "no-store"
    return retry_after


async def test_token_requests_per_client_are_limited_until_the_window_ends(
    http: httpx.AsyncClient, service: Registered, container: Container, clock: FrozenClock
) -> None:
    for _ in range(3):
        await client_credentials(http, service)
    response = await token_request(http, {"grant_type": "client_credentials"}, service)
    retry_after = _assert_limited(response)
    assert retry_after <= 60

    clock.advance(timedelta(seconds=retry_after))
    await client_credentials(http, service)


async def test_one_clients_limit_leaves_other_clients_alone(
    http: httpx.AsyncClient, service: Registered, container: Container
) -> None:
    other = await _second_client(container)
    for _ in range(3):
        await client_credentials(http, service)
    _assert_limited(await token_request(http, {"grant_type": "client_credentials"}, service))
    await client_credentials(http, other)


async def test_wrong_secrets_for_a_client_do_not_use_up_its_quota(
    service: Registered, container: Container
) -> None:
    """Requests are counted per client only after the client authenticated, so somebody
    who knows a client id cannot lock the client out of its own tokens."""
    impostor = Registered(service.client_id, "not-the-secret")
    for n in range(6):
        async with _from(container, f"203.0.113.{n}") as attacker:
            response = await token_request(attacker, {"grant_type": "client_credentials"}, impostor)
            assert_oauth_error(response, "invalid_client", 401)
    async with _from(container, "198.51.100.7") as owner:
        await client_credentials(owner, service)


@pytest.mark.parametrize("path", ["/oauth/token", INTROSPECT, REVOKE])
async def test_failed_client_authentication_is_limited_per_address(
    service: Registered, container: Container, clock: FrozenClock, path: str
) -> None:
    """RFC 6749 §10.10 / RFC 9700 §4.16: secrets must not be guessable at speed. After
    the allowance of failures from one address, even the right secret waits: the
    address is refused before any secret is checked."""
    guess = Registered(service.client_id, "guess")
    form = {"grant_type": "client_credentials", "token": "x"}
    async with _from(container, "203.0.113.50") as attacker:
        for _ in range(3):
            assert_oauth_error(
                await token_request(attacker, form, guess, path=path), "invalid_client", 401
            )
        retry_after = _assert_limited(await token_request(attacker, form, service, path=path))
        assert retry_after <= 300

        async with _from(container, "198.51.100.8") as elsewhere:
            await client_credentials(elsewhere, service)

        clock.advance(timedelta(seconds=retry_after))
        response = await token_request(attacker, {"grant_type": "client_credentials"}, service)
        assert response.status_code == 200, response.text


async def test_successful_authentications_are_not_counted_as_failures(
    service: Registered, container: Container
) -> None:
    other = await _second_client(container)
    async with _from(container, "198.51.100.9") as caller:
        for _ in range(3):
            for registered in (service, other):
                await client_credentials(caller, registered)


async def test_rate_limits_off_lifts_both_limits(
    database_url: str, data_dir: Path, clock: FrozenClock
) -> None:
    """``AUTHGATE_RATE_LIMITS=off`` (spec §3): development set-ups are never limited."""
    settings = make_settings(data_dir, database_url, rate_limits={**LIMITS, "enabled": False})
    built = Container.build(settings, clock=clock, create_master_key=True)
    await empty_database(built.db)
    await built.keys.ensure_initial(CLI)
    try:
        await built.apis.create(CLI, audience=ORDERS, name="Orders", permissions=["orders:read"])
        other = await _second_client(built)
        wrong = Registered(other.client_id, "wrong")
        async with _from(built, "203.0.113.60") as caller:
            for _ in range(5):
                response = await token_request(caller, {"grant_type": "client_credentials"}, wrong)
                assert_oauth_error(response, "invalid_client", 401)
            for _ in range(5):
                await client_credentials(caller, other)
    finally:
        await built.close()


@pytest.mark.redis
async def test_replicas_sharing_redis_share_the_limits(
    container: Container, clock: FrozenClock, service: Registered
) -> None:
    """With Redis configured, every replica counts against the same limits."""
    if REDIS_SKIP is not None:
        pytest.skip(f"Redis {REDIS_SKIP}: set AUTHGATE_TEST_REDIS_URL")
    replicas = [_replica(container, clock, redis_url=REDIS_URL) for _ in range(2)]
    # Distinct per run, since Redis outlives the test: a fresh client and address.
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    fresh = await _second_client(replicas[0])
    try:
        async with _from(replicas[0], address) as a, _from(replicas[1], address) as b:
            await client_credentials(a, fresh)
            await client_credentials(b, fresh)
            await client_credentials(a, fresh)
            _assert_limited(await token_request(b, {"grant_type": "client_credentials"}, fresh))

            guess = Registered(service.client_id, f"guess-{secrets.token_hex(4)}")
            form = {"grant_type": "client_credentials"}
            for caller in (a, b, a):
                assert_oauth_error(await token_request(caller, form, guess), "invalid_client", 401)
            _assert_limited(await token_request(b, form, service))
    finally:
        for replica in replicas:
            await replica.close()
