"""Request-rate limits for the back-channel OAuth endpoints.

Two counters, both fixed windows aligned to the clock (simple, and identical in every
replica when they share Redis):

- token requests per authenticated client, so one runaway client cannot starve the rest;
- failed client authentications per source address, so secrets cannot be guessed at
  speed (RFC 6749 §10.10 asks servers to make guessing infeasible; RFC 9700 §4.16).

A request over either limit is refused with the seconds until its window ends, which the
caller sends as ``Retry-After`` (RFC 6585 §4).
"""

from __future__ import annotations

import math
from typing import Protocol

from redis.asyncio import Redis

from authgate.clock import Clock
from authgate.ratelimit.throttle import redis_available
from authgate.settings import RateLimitSettings


class WindowCounter(Protocol):
    async def hit(self, key: str, bucket: int, ttl: int) -> int:
        """Count one event in ``bucket`` of ``key``; returns the bucket's count."""
        ...

    async def peek(self, key: str, bucket: int) -> int: ...


class MemoryWindowCounter:
    """In-process counters; old buckets are dropped as new ones start."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, bucket: int, ttl: int) -> int:
        if len(self._counts) >= self._max_keys:  # bounded under an address spray
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket}
            if len(self._counts) >= self._max_keys:
                self._counts.clear()
        count = self._counts.get((key, bucket), 0) + 1
        self._counts[(key, bucket)] = count
        self._counts.pop((key, bucket - 1), None)
        return count

    async def peek(self, key: str, bucket: int) -> int:
        return self._counts.get((key, bucket), 0)


class RedisWindowCounter:
    """One Redis key per window, expiring with it; shared by every replica."""

    def __init__(self, redis: Redis, prefix: str = "authgate:rate:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, bucket: int, ttl: int) -> int:
        name = f"{self._prefix}{key}:{bucket}"
        async with redis_available(), self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, ttl)
            count, _ = await pipe.execute()
        return int(count)

    async def peek(self, key: str, bucket: int) -> int:
        async with redis_available():
            value = await self._redis.get(f"{self._prefix}{key}:{bucket}")
        return int(value) if value is not None else 0


class RequestLimits:
    """The ``[rate_limits]`` token-endpoint limits; every method answers the seconds to
    wait, or None when the request may go ahead."""

    def __init__(self, settings: RateLimitSettings, counter: WindowCounter, clock: Clock) -> None:
        self._settings = settings
        self._counter = counter
        self._clock = clock

    def _window(self, seconds: float) -> tuple[int, int, int]:
        """(bucket, seconds left in it, window length)."""
        window = max(1, int(seconds))
        now = self._clock.now().timestamp()
        bucket = int(now // window)
        left = max(1, math.ceil((bucket + 1) * window - now))
        return bucket, left, window

    async def admit_client(self, client_id: str) -> int | None:
        """Count a token request by an authenticated client."""
        if not self._settings.enabled:
            return None
        bucket, left, window = self._window(self._settings.token_window.total_seconds())
        count = await self._counter.hit("token:" + client_id, bucket, window + 1)
        return left if count > self._settings.token_requests_per_client else None

    async def client_auth_blocked(self, source_ip: str | None) -> int | None:
        """Whether this address has used up its failed client authentications."""
        if not self._settings.enabled or not source_ip:
            return None
        bucket, left, _ = self._window(self._settings.client_auth_failure_window.total_seconds())
        count = await self._counter.peek("client-auth:" + source_ip, bucket)
        return left if count >= self._settings.client_auth_failures_per_ip else None

    async def client_auth_failed(self, source_ip: str | None) -> None:
        if not self._settings.enabled or not source_ip:
            return
        bucket, _, window = self._window(self._settings.client_auth_failure_window.total_seconds())
        await self._counter.hit("client-auth:" + source_ip, bucket, window + 1)
