"""Keyed digests and prefixed random secrets (STYLE item 7).

High-entropy secrets (session tokens, recovery codes, later client secrets and API keys)
are stored only as HMAC-SHA256 digests under a key derived from the master key: fast to
check, useless to whoever reads the database, and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Digester:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Digester(<hidden>)"

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """``<prefix>_<random>``: the prefix makes a leaked secret recognisable by kind."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"
