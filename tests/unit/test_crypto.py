"""Master-key sealing, keyed digests and the login throttle's arithmetic."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from authgate.clock import FrozenClock
from authgate.digests import Digester, new_secret
from authgate.errors import ConfigurationError, TooManyAttempts
from authgate.keys.master import MasterKey
from authgate.ratelimit.throttle import LoginThrottle, MemoryThrottleStore
from authgate.settings import RateLimitSettings


def test_seal_round_trip_and_purpose_binding() -> None:
    key = MasterKey(secrets.token_bytes(32))
    sealed = key.seal(b"private key bytes", "signing-key")
    assert b"private key bytes" not in sealed
    assert key.open(sealed, "signing-key") == b"private key bytes"
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        key.open(sealed, "totp-secret")


def test_another_master_key_cannot_open() -> None:
    sealed = MasterKey(secrets.token_bytes(32)).seal(b"x", "p")
    with pytest.raises(ConfigurationError, match="master key differs"):
        MasterKey(secrets.token_bytes(32)).open(sealed, "p")


def test_master_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = MasterKey.load_or_create(tmp_path, None, create=True)
    assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0
    again = MasterKey.load_or_create(tmp_path, None, create=False)
    assert first.derive("x") == again.derive("x")
    assert "hidden" in repr(first)


def test_missing_master_key_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="authgate init"):
        MasterKey.load_or_create(tmp_path, None, create=False)


def test_short_master_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="32 random bytes"):
        MasterKey.from_text("c2hvcnQ")


def test_digests_are_keyed() -> None:
    one, two = Digester(b"k" * 32), Digester(b"j" * 32)
    secret = new_secret("ags")
    assert secret.startswith("ags_") and len(secret) > 40
    assert one.matches(secret, one.digest(secret))
    assert not two.matches(secret, one.digest(secret))


def _throttle(clock: FrozenClock) -> LoginThrottle:
    settings = RateLimitSettings(login_failures_per_account=3, login_failures_per_ip=100)
    return LoginThrottle(settings, MemoryThrottleStore(), clock)


async def test_lockout_doubles_up_to_the_cap() -> None:
    clock = FrozenClock()
    throttle = _throttle(clock)
    waits = []
    for _ in range(12):
        await throttle.failed("bob", "198.51.100.1")
        try:
            await throttle.check("bob", "198.51.100.1")
            waits.append(0)
        except TooManyAttempts as exc:
            waits.append(exc.retry_after)
    assert waits[:2] == [0, 0]
    assert waits[2:6] == [3, 5, 9, 17]  # 2 s, 4 s, 8 s, 16 s (rounded up)
    assert max(waits) == 901  # capped at 15 minutes


async def test_success_resets_the_account_counter() -> None:
    clock = FrozenClock()
    throttle = _throttle(clock)
    await throttle.failed("bob", None)
    await throttle.failed("bob", None)
    await throttle.succeeded("bob")
    await throttle.failed("bob", None)
    await throttle.check("bob", None)


async def test_failures_are_forgotten_after_the_window() -> None:
    clock = FrozenClock()
    throttle = _throttle(clock)
    for _ in range(3):
        await throttle.failed("bob", None)
    with pytest.raises(TooManyAttempts):
        await throttle.check("bob", None)
    clock.advance(timedelta(minutes=16))
    await throttle.check("bob", None)


async def test_switched_off() -> None:
    throttle = LoginThrottle(RateLimitSettings(enabled=False), MemoryThrottleStore(), FrozenClock())
    for _ in range(50):
        await throttle.failed("bob", None)
    await throttle.check("bob", None)
