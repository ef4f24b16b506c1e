"""Login throttling per account and per client address (OWASP Authentication Cheat Sheet,
"Protect Against Automated Attacks").

After ``free`` failures within the window, each further attempt on that key must wait a
lockout that doubles with every failure (``base``, ``2×base``, … up to ``max``). Unknown
usernames are throttled exactly like real ones, so the lockout reveals nothing.

Attempts are *reserved* before the password or code is checked: an attempt in flight
counts against the allowance, so a burst of concurrent guesses cannot all slip through
before the first failure is recorded. The counters live in Redis when configured (shared
by every replica), else in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

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
    pending: int = 0


class ThrottleStore(Protocol):
    async def get(self, key: str, now: float) -> Failures | None: ...
    async def reserve(self, key: str, now: float, window: float) -> Failures:
        """Count one more attempt in flight; returns the state including it."""
        ...

    async def release(self, key: str) -> None: ...
    async def add_failure(self, key: str, now: float, window: float) -> Failures: ...
    async def reset(self, key: str) -> None: ...


class MemoryThrottleStore:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._failures: dict[str, tuple[int, float, float]] = {}
        self._pending: dict[str, int] = {}
        self._max_keys = max_keys

    async def get(self, key: str, now: float) -> Failures | None:
        entry = self._failures.get(key)
        if entry is not None and entry[2] <= now:
            self._failures.pop(key, None)
            entry = None
        pending = self._pending.get(key, 0)
        if entry is None and not pending:
            return None
        count, last_at = (entry[0], entry[1]) if entry else (0, 0.0)
        return Failures(count, last_at, pending)

    async def reserve(self, key: str, now: float, window: float) -> Failures:
        self._pending[key] = self._pending.get(key, 0) + 1
        current = await self.get(key, now)
        assert current is not None
        return current

    async def release(self, key: str) -> None:
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    async def add_failure(self, key: str, now: float, window: float) -> Failures:
        current = await self.get(key, now)
        count = (current.count if current else 0) + 1
        if len(self._failures) >= self._max_keys:  # bounded memory under a username spray
            self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
        self._failures[key] = (count, now, now + window)
        return Failures(count, now, self._pending.get(key, 0))

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)


@asynccontextmanager
async def redis_available() -> AsyncIterator[None]:
    """Redis down means the counters cannot be read: refuse (503) rather than let
    unthrottled guesses through."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StorageUnavailable("Redis is unreachable; try again shortly") from exc


class RedisThrottleStore:
    """One hash per key: ``count`` and ``last`` (failures), ``pending`` (in flight)."""

    def __init__(self, redis: Redis, prefix: str = "authgate:throttle:") -> None:
        self._redis = redis
        self._prefix = prefix

    @staticmethod
    def _parse(data: dict[Any, Any]) -> Failures | None:
        if not data:
            return None
        return Failures(
            int(data.get(b"count", b"0")),
            float(data.get(b"last", b"0")),
            max(0, int(data.get(b"pending", b"0"))),
        )

    async def get(self, key: str, now: float) -> Failures | None:
        async with redis_available():
            return self._parse(await self._redis.hgetall(self._prefix + key))

    async def reserve(self, key: str, now: float, window: float) -> Failures:
        name = self._prefix + key
        async with redis_available(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "pending", 1)
            pipe.expire(name, max(1, int(window)))
            pipe.hgetall(name)
            _, _, data = await pipe.execute()
        parsed = self._parse(data)
        assert parsed is not None
        return parsed

    async def release(self, key: str) -> None:
        async with redis_available():
            await self._redis.hincrby(self._prefix + key, "pending", -1)

    async def add_failure(self, key: str, now: float, window: float) -> Failures:
        name = self._prefix + key
        async with redis_available(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, max(1, int(window)))
            count, _, _ = await pipe.execute()
        return Failures(int(count), now)

    async def reset(self, key: str) -> None:
        async with redis_available():
            await self._redis.hdel(self._prefix + key, "count", "last")


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt: finish it with ``failed`` or ``succeeded``, or ``release``."""

    keys: tuple[str, ...]


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

    def _refuse(self, seconds: int) -> TooManyAttempts:
        unit = "second" if seconds == 1 else "seconds"
        return TooManyAttempts(f"Too many failed attempts. Try again in {seconds} {unit}.", seconds)

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
                    raise self._refuse(int(wait) + 1)

    async def begin(self, username_key: str, source_ip: str | None) -> Attempt:
        """Check the lockout, then reserve this attempt. While the allowance is used up
        by attempts still being checked, further ones are refused."""
        if not self._settings.enabled:
            return Attempt(())
        await self.check(username_key, source_ip)
        now = self._clock.now().timestamp()
        window = self._settings.failure_window.total_seconds()
        reserved: list[str] = []
        try:
            for key, free in self._keys(username_key, source_ip):
                state = await self._store.reserve(key, now, window)
                reserved.append(key)
                if state.pending > max(1, free - state.count):
                    raise self._refuse(max(1, int(self._settings.lockout_base.total_seconds())))
        except BaseException:
            for key in reserved:
                await self._store.release(key)
            raise
        return Attempt(tuple(reserved))

    async def release(self, attempt: Attempt) -> None:
        for key in attempt.keys:
            await self._store.release(key)

    async def failed(self, attempt: Attempt) -> bool:
        """Count a failure; True when it starts a lockout (worth an audit event)."""
        if not attempt.keys:
            return False
        now = self._clock.now().timestamp()
        window = self._settings.failure_window.total_seconds()
        frees = dict(self._keys_free())
        locked = False
        for key in attempt.keys:
            failures = await self._store.add_failure(key, now, window)
            await self._store.release(key)
            locked = locked or failures.count >= frees[key.split(":", 1)[0]]
        return locked

    async def succeeded(self, attempt: Attempt) -> None:
        for key in attempt.keys:
            if key.startswith("account:"):
                await self._store.reset(key)
            await self._store.release(key)

    def _keys_free(self) -> list[tuple[str, int]]:
        return [
            ("account", self._settings.login_failures_per_account),
            ("ip", self._settings.login_failures_per_ip),
        ]
