"""Access-model changes published over Redis, when it is configured.

Polling the change counter bounds how stale another process can be (one poll interval
plus a rebuild). With Redis, the process that made a change also publishes it, and every
server subscribed drops its caches at once — so a change made with the CLI or on another
replica is usually seen within one rebuild. The poll stays as the guarantee: a message
lost while Redis is down costs only the poll interval.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

CHANNEL = "authgate:access-changed"
RETRY_SECONDS = 2.0

log = logging.getLogger("authgate.access")


class ChangeFanout:
    def __init__(self, redis: Redis | None, on_remote_change: Callable[[], None]) -> None:
        self._redis = redis
        self._on_remote_change = on_remote_change
        self._origin = secrets.token_hex(8)  # this process's own messages are skipped
        self._pending: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """Publish a change made by this process (in the background: the write has
        committed already and must not wait for Redis)."""
        if self._redis is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self) -> None:
        assert self._redis is not None
        try:
            await self._redis.publish(CHANNEL, self._origin)
        except (RedisError, OSError) as exc:
            log.warning("could not publish an access change", extra={"error": str(exc)})

    async def flush(self) -> None:
        """Wait for the messages still being sent (a CLI command ends right after)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def listen(self) -> None:
        """Follow other processes' changes until cancelled, reconnecting after errors."""
        if self._redis is None:
            return
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        if message.get("data") != self._origin.encode():
                            self._on_remote_change()
            except (RedisError, OSError) as exc:
                log.warning("access change feed interrupted", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_SECONDS)
