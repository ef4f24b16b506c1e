"""The two ways a request can fail authorization, plus "AuthGate cannot be reached".

``InvalidToken.reason`` is a short phrase for logs ("expired", "wrong audience"); the
integrations never send it to the caller (RFC 6750 §3.1 ``invalid_token`` says enough).
"""

from __future__ import annotations


class InvalidToken(Exception):
    """The bearer token is missing, malformed, not signed by the issuer, or not valid for
    this API now (RFC 6750 §3.1 ``invalid_token``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InsufficientScope(Exception):
    """A valid token that does not carry the permission asked for (RFC 6750 §3.1
    ``insufficient_scope``)."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"the token does not carry {permission}")
        self.permission = permission


class IssuerUnavailable(Exception):
    """The issuer's metadata or keys could not be fetched and none are cached: the API
    cannot decide, which is the server's problem (503), not the caller's (401)."""
