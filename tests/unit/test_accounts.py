"""Usernames, the password policy and argon2id hashing."""

from __future__ import annotations

import pytest

from authgate.accounts.passwords import PasswordHashing, PasswordPolicy
from authgate.accounts.usernames import normalize, username_key
from authgate.errors import InvalidInput
from authgate.settings import PasswordSettings

FAST = PasswordSettings(argon2_memory_kib=1024, argon2_time_cost=1)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice", "alice"),
        ("\uff41\uff4c\uff49\uff43\uff45", "alice"),
        ("STRASSE", "straße"),
        ("ﬁle", "file"),
    ],
    ids=["case", "fullwidth", "sharp-s", "ligature"],
)
def test_username_keys_fold_case_and_compatibility_forms(a: str, b: str) -> None:
    assert username_key(a) == username_key(b)


def test_display_form_keeps_case() -> None:
    assert normalize("  Alice ") == "Alice"


def test_policy_accepts_a_long_uncommon_password() -> None:
    assert PasswordPolicy(FAST).check("violet-kettle-orbit") == "violet-kettle-orbit"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "too short"),
        ("x" * 2000, "too long"),
        ("PassWord123", "too common"),
        ("qwertyuiop", "too common"),
    ],
)
def test_policy_refuses(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PasswordPolicy(FAST).check(password)


def test_policy_refuses_username_as_password() -> None:
    with pytest.raises(InvalidInput, match="username"):
        PasswordPolicy(FAST).check("MyLongUsername", "mylongusername")


async def test_hash_is_argon2id_and_verifies() -> None:
    hashing = PasswordHashing(FAST)
    stored = await hashing.hash("violet-kettle-orbit")
    assert stored.startswith("$argon2id$")
    assert await hashing.verify(stored, "violet-kettle-orbit")
    assert not await hashing.verify(stored, "violet-kettle-orbiT")


async def test_unknown_user_costs_a_real_verification() -> None:
    """The decoy path verifies a real argon2 hash (same work) and never succeeds."""
    hashing = PasswordHashing(FAST)
    assert not await hashing.verify(None, "authgate decoy password")
    assert not await hashing.verify(None, "anything")


async def test_needs_rehash_when_cost_changes() -> None:
    old = await PasswordHashing(FAST).hash("violet-kettle-orbit")
    stronger = PasswordHashing(PasswordSettings(argon2_memory_kib=2048, argon2_time_cost=2))
    assert stronger.needs_rehash(old)
    assert not PasswordHashing(FAST).needs_rehash(old)
    assert await stronger.verify(old, "violet-kettle-orbit")  # old hashes still verify


def test_default_cost_follows_owasp() -> None:
    """OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (or stronger)."""
    defaults = PasswordSettings()
    assert defaults.argon2_memory_kib >= 19456
    assert defaults.argon2_time_cost >= 2
