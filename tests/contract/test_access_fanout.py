"""With Redis configured, an access change made by one process reaches the others
through a published message, not only through the change-counter poll."""

from __future__ import annotations

import asyncio
import time

import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conftest import REDIS_SKIP, REDIS_URL, make_settings

pytestmark = pytest.mark.redis


async def test_a_binding_made_elsewhere_arrives_by_message_long_before_the_poll(
    container: Container, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if REDIS_SKIP is not None:
        pytest.skip(f"Redis {REDIS_SKIP}: set AUTHGATE_TEST_REDIS_URL")
    # A poll interval far longer than the test: only the message can bring the change.
    monkeypatch.setattr("authgate.container.ACCESS_POLL_SECONDS", 60.0)
    settings = make_settings(
        container.settings.data_dir, container.settings.effective_database_url, redis_url=REDIS_URL
    )
    writer, server = Container.build(settings, clock=clock), Container.build(settings, clock=clock)
    listening = asyncio.create_task(server.fanout.listen())
    try:
        await writer.users.create("erin", CLI)
        await writer.access.create_role(CLI, "reader", ["orders:read"])
        await server.engine.refresh()
        before = await server.engine.check("user", "erin", "orders:read")
        assert not before.allowed
        await asyncio.sleep(0.2)  # the subscription is in place

        await writer.access.bind(CLI, "reader", "user:erin", "/")
        started = time.monotonic()
        while not (await server.engine.check("user", "erin", "orders:read")).allowed:
            assert time.monotonic() - started < 5, "the change never arrived"
            await asyncio.sleep(0.02)
        assert time.monotonic() - started < 5
    finally:
        listening.cancel()
        await writer.close()
        await server.close()


async def test_without_redis_nothing_is_published(container: Container) -> None:
    """No Redis: the poll alone carries changes, and writing never waits on a feed."""
    assert container.redis is None
    await container.access.create_role(CLI, "auditor", ["audit:read"])
    await container.fanout.flush()
