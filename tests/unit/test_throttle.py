"""The login throttle: doubling lockouts, resets, forgetting, and reservations that stop a
burst of concurrent guesses (OWASP Authentication Cheat Sheet)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from authgate.clock import FrozenClock
from authgate.errors import TooManyAttempts
from authgate.ratelimit.throttle import LoginThrottle, MemoryThrottleStore
from authgate.settings import RateLimitSettings


def _throttle(clock: FrozenClock, **overrides: int) -> LoginThrottle:
    values = {"login_failures_per_account": 3, "login_failures_per_ip": 100, **overrides}
    return LoginThrottle(RateLimitSettings(**values), MemoryThrottleStore(), clock)


async def _fail(throttle: LoginThrottle, who: str = "bob", ip: str | None = "198.51.100.1") -> None:
    await throttle.failed(await throttle.begin(who, ip))


async def test_lockout_doubles_up_to_the_cap() -> None:
    clock = FrozenClock()
    throttle = _throttle(clock)
    waits = []
    for _ in range(12):
        attempt = (
            await throttle.begin("bob", "198.51.100.1") if not waits or not waits[-1] else None
        )
        if attempt is None:  # locked: wait it out, then fail again
            clock.advance(timedelta(seconds=waits[-1]))
            attempt = await throttle.begin("bob", "198.51.100.1")
        await throttle.failed(attempt)
        try:
            await throttle.check("bob", "198.51.100.1")
            waits.append(0)
        except TooManyAttempts as exc:
            waits.append(exc.retry_after)
    assert waits[:2] == [0, 0]
    assert waits[2:6] == [3, 5, 9, 17]  # 2 s, 4 s, 8 s, 16 s (rounded up)
    assert max(waits) == 901  # capped at 15 minutes


async def test_success_resets_the_account_counter() -> None:
    throttle = _throttle(FrozenClock())
    await _fail(throttle)
    await _fail(throttle)
    await throttle.succeeded(await throttle.begin("bob", None))
    await _fail(throttle)
    await throttle.check("bob", None)


async def test_failures_are_forgotten_after_the_window() -> None:
    clock = FrozenClock()
    throttle = _throttle(clock)
    for _ in range(3):
        await _fail(throttle)
    with pytest.raises(TooManyAttempts):
        await throttle.check("bob", None)
    clock.advance(timedelta(minutes=16))
    await throttle.check("bob", None)


async def test_switched_off() -> None:
    throttle = LoginThrottle(RateLimitSettings(enabled=False), MemoryThrottleStore(), FrozenClock())
    for _ in range(50):
        await _fail(throttle)
    await throttle.check("bob", None)


async def test_concurrent_attempts_are_capped_by_reservations() -> None:
    """A burst of simultaneous guesses gets at most the allowance checked, not all of it."""
    throttle = _throttle(FrozenClock(), login_failures_per_account=5)
    checked = 0
    gate = asyncio.Event()

    async def guess() -> None:
        nonlocal checked
        try:
            attempt = await throttle.begin("bob", None)
        except TooManyAttempts:
            return
        checked += 1
        await gate.wait()  # every admitted guess is still "being checked"
        await throttle.failed(attempt)

    tasks = [asyncio.create_task(guess()) for _ in range(60)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*tasks)
    assert checked == 5


async def test_released_attempts_free_their_slot() -> None:
    throttle = _throttle(FrozenClock(), login_failures_per_account=1)
    attempt = await throttle.begin("bob", None)
    with pytest.raises(TooManyAttempts):
        await throttle.begin("bob", None)
    await throttle.release(attempt)
    await throttle.succeeded(await throttle.begin("bob", None))
