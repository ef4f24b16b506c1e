"""Password policy and argon2id hashing (argon2-cffi).

Policy follows NIST SP 800-63B §5.1.1.2: a minimum length, no composition rules, and a
check against a list of commonly used passwords. Hashing runs in a worker thread so one
login never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import unicodedata
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authgate.errors import InvalidInput
from authgate.settings import PasswordSettings


@cache
def _common_passwords() -> frozenset[str]:
    text = files("authgate.accounts").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


class PasswordPolicy:
    def __init__(self, settings: PasswordSettings) -> None:
        self._settings = settings

    def check(self, password: str, username: str | None = None) -> str:
        """Return the NFKC-normalised password (RFC 8265 §4.2 style) or raise why not."""
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("the password is not valid Unicode") from None
        text = unicodedata.normalize("NFKC", password)
        if len(text) < self._settings.min_length:
            raise InvalidInput(
                f"the password is too short: use at least {self._settings.min_length} characters"
            )
        if len(text) > self._settings.max_length:
            raise InvalidInput(
                f"the password is too long: use at most {self._settings.max_length} characters"
            )
        folded = text.casefold()
        if folded in _common_passwords():
            raise InvalidInput("this password is too common: choose one that is hard to guess")
        if username is not None and folded == username.casefold():
            raise InvalidInput("the password must not be the username")
        return text


class PasswordHashing:
    """argon2id with the configured cost; knows when a stored hash is out of date."""

    def __init__(self, settings: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # A hash of nothing anyone knows, verified for unknown users so a failed login
        # costs the same whether or not the account exists.
        self._decoy = self._hasher.hash("authgate decoy password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, unicodedata.normalize("NFKC", password))

    async def verify(self, stored: str | None, password: str) -> bool:
        candidate = unicodedata.normalize("NFKC", password)
        target = stored or self._decoy
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, candidate)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
