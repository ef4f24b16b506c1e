"""The login service: rehash on login, shared throttling through Redis."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.errors import AuthenticationFailed, TooManyAttempts
from authgate.ratelimit.throttle import LoginThrottle, RedisThrottleStore
from authgate.settings import RateLimitSettings
from tests.conftest import REDIS_SKIP, REDIS_URL, make_settings

PASSWORD = "violet-kettle-orbit"


async def test_login_rehashes_when_the_cost_changed(
    container: Container, clock: FrozenClock
) -> None:
    await container.users.create("alice", CLI, password=PASSWORD)
    stronger = make_settings(
        container.settings.data_dir,
        container.settings.effective_database_url,
        passwords={"argon2_memory_kib": 2048, "argon2_time_cost": 2},
    )
    upgraded = Container.build(stronger, clock=clock)
    try:
        await upgraded.login.check_password("alice", PASSWORD, CLI)
        async with upgraded.db.transaction() as session:
            from authgate.storage.repositories import UserRepository

            row = await UserRepository(session).by_key("alice")
            assert row is not None and row.password_hash is not None
            assert "m=2048,t=2" in row.password_hash
        tags = [e.tag for e in await upgraded.audit.recent(3)]
        assert "account:password:rehashed" in tags
        # The upgraded hash still logs in.
        await upgraded.login.check_password("alice", PASSWORD, CLI)
    finally:
        await upgraded.close()


async def test_login_failures_are_audited_without_the_password(container: Container) -> None:
    await container.users.create("bob", CLI, password=PASSWORD)
    with pytest.raises(AuthenticationFailed):
        await container.login.check_password("bob", "guess-number-one", CLI)
    event = (await container.audit.recent(1))[0]
    assert event.tag == "account:login:failure"
    assert "guess-number-one" not in repr(event.details)


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisThrottleStore]:
    if REDIS_SKIP is not None:
        pytest.skip(f"Redis {REDIS_SKIP}: set AUTHGATE_TEST_REDIS_URL")
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    yield RedisThrottleStore(client, prefix=f"authgate-test:{secrets.token_hex(4)}:")
    await client.aclose()


@pytest.mark.redis
async def test_redis_throttle_is_shared_between_replicas(redis_store: RedisThrottleStore) -> None:
    """Two throttles (two replicas) over one Redis see each other's failures."""
    clock = FrozenClock()
    settings = RateLimitSettings(login_failures_per_account=3)
    replica_a = LoginThrottle(settings, redis_store, clock)
    replica_b = LoginThrottle(settings, redis_store, clock)
    await replica_a.failed(await replica_a.begin("carol", "192.0.2.1"))
    await replica_b.failed(await replica_b.begin("carol", "192.0.2.2"))
    await replica_a.failed(await replica_a.begin("carol", "192.0.2.3"))
    with pytest.raises(TooManyAttempts):
        await replica_b.check("carol", "192.0.2.4")
    clock.advance(timedelta(seconds=3))
    await replica_b.succeeded(await replica_b.begin("carol", "192.0.2.4"))
    await replica_a.check("carol", "192.0.2.4")


@pytest.mark.redis
async def test_redis_reservations_cap_a_burst_across_replicas(
    redis_store: RedisThrottleStore,
) -> None:
    clock = FrozenClock()
    settings = RateLimitSettings(login_failures_per_account=3)
    replicas = [LoginThrottle(settings, redis_store, clock) for _ in range(3)]
    admitted = []
    for n in range(12):
        with contextlib.suppress(TooManyAttempts):
            admitted.append(await replicas[n % 3].begin("dave", None))
    assert len(admitted) == 3


@pytest.mark.redis
async def test_replicas_built_with_redis_share_the_lockout(
    container: Container, clock: FrozenClock
) -> None:
    """The composition root picks Redis when AUTHGATE_REDIS_URL is set: a lockout earned on
    one replica holds on another."""
    if REDIS_SKIP is not None:
        pytest.skip(f"Redis {REDIS_SKIP}: set AUTHGATE_TEST_REDIS_URL")
    settings = make_settings(
        container.settings.data_dir, container.settings.effective_database_url, redis_url=REDIS_URL
    )
    first, second = Container.build(settings, clock=clock), Container.build(settings, clock=clock)
    username = f"dora-{secrets.token_hex(3)}"
    try:
        await first.users.create(username, CLI, password=PASSWORD)
        for _ in range(5):
            with pytest.raises(AuthenticationFailed):
                await first.login.check_password(username, "wrong-password!", CLI)
        with pytest.raises(TooManyAttempts):
            await second.login.check_password(username, PASSWORD, CLI)
    finally:
        await first.close()
        await second.close()
