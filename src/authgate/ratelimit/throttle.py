"""Login throttling per account and per client address (OWASP Authentication Cheat Sheet,
"Protect Against Automated Attacks").

After ``free`` failures within the window, each further attempt on that key must wait a
lockout that doubles with every failure (``base``, ``2×base``, … up to ``max``). Unknown
usernames are throttled exactly like real ones, so the lockout reveals nothing. The
counters live in Redis when configured (shared by every replica), else in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authgate.clock import Clock
from authgate.errors import StorageUnavailable, TooManyAttempts
from authgate.settings import RateLimitSettings


@dataclass(frozen=True)
class Failures:
    count: int
    last_at: float


class ThrottleStore(Protocol):
    async def get(self, key: str, now: float) -> Failures | None: ...
    async def add_failure(self, key: str, now: float, window: float) -> Failures: ...
    async def reset(self, key: str) -> None: ...


class MemoryThrottleStore:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._data: dict[str, tuple[int, float, float]] = {}
        self._max_keys = max_keys

    async def get(self, key: str, now: float) -> Failures | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        count, last_at, expires = entry
        if expires <= now:
            self._data.pop(key, None)
            return None
        return Failures(count, last_at)

    async def add_failure(self, key: str, now: float, window: float) -> Failures:
        current = await self.get(key, now)
        count = (current.count if current else 0) + 1
        if len(self._data) >= self._max_keys:  # bounded memory under a spray of usernames
            self._data = {k: v for k, v in self._data.items() if v[2] > now}
        self._data[key] = (count, now, now + window)
        return Failures(count, now)

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)


@asynccontextmanager
async def _redis_available() -> AsyncIterator[None]:
    """Redis down means the counters cannot be read: refuse (503) rather than let
    unthrottled guesses through."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StorageUnavailable("Redis is unreachable; try again shortly") from exc


class RedisThrottleStore:
    def __init__(self, redis: Redis, prefix: str = "authgate:throttle:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str, now: float) -> Failures | None:
        async with _redis_available():
            data = await self._redis.hgetall(self._prefix + key)
        if not data:
            return None
        return Failures(int(data[b"count"]), float(data[b"last"]))

    async def add_failure(self, key: str, now: float, window: float) -> Failures:
        name = self._prefix + key
        async with _redis_available(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, max(1, int(window)))
            count, _, _ = await pipe.execute()
        return Failures(int(count), now)

    async def reset(self, key: str) -> None:
        async with _redis_available():
            await self._redis.delete(self._prefix + key)


class LoginThrottle:
    def __init__(self, settings: RateLimitSettings, store: ThrottleStore, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock

    def _keys(self, username_key: str, source_ip: str | None) -> list[tuple[str, int]]:
        keys = [("account:" + username_key, self._settings.login_failures_per_account)]
        if source_ip:
            keys.append(("ip:" + source_ip, self._settings.login_failures_per_ip))
        return keys

    def _wait(self, failures: Failures, free: int, now: float) -> float:
        if failures.count < free:
            return 0.0
        lockout = self._settings.lockout_base.total_seconds() * 2 ** (failures.count - free)
        lockout = min(lockout, self._settings.lockout_max.total_seconds())
        return float(max(0.0, failures.last_at + lockout - now))

    async def check(self, username_key: str, source_ip: str | None) -> None:
        """Raise :class:`TooManyAttempts` while either key is locked out."""
        if not self._settings.enabled:
            return
        now = self._clock.now().timestamp()
        for key, free in self._keys(username_key, source_ip):
            failures = await self._store.get(key, now)
            if failures is not None:
                wait = self._wait(failures, free, now)
                if wait > 0:
                    seconds = int(wait) + 1
                    unit = "second" if seconds == 1 else "seconds"
                    raise TooManyAttempts(
                        f"Too many failed attempts. Try again in {seconds} {unit}.", seconds
                    )

    async def failed(self, username_key: str, source_ip: str | None) -> bool:
        """Count a failure; True when it starts a lockout (worth an audit event)."""
        if not self._settings.enabled:
            return False
        now = self._clock.now().timestamp()
        window = self._settings.failure_window.total_seconds()
        locked = False
        for key, free in self._keys(username_key, source_ip):
            failures = await self._store.add_failure(key, now, window)
            locked = locked or failures.count >= free
        return locked

    async def succeeded(self, username_key: str) -> None:
        if self._settings.enabled:
            await self._store.reset("account:" + username_key)
