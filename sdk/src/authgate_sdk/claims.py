"""What a verified AuthGate access token says (RFC 9068 §2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Claims:
    """``subject`` is a user's id, or the client id for a client-credentials token;
    ``scopes`` are the permissions AuthGate granted (the ``scope`` claim)."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime
    raw: Mapping[str, Any]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Claims:
        scope = payload.get("scope", "")
        return cls(
            subject=payload["sub"],
            client_id=payload["client_id"],
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            raw=payload,
        )

    def has(self, permission: str) -> bool:
        """Whether the token grants ``permission`` (``resource:action``), directly, through
        ``resource:*`` or through ``*`` — as AuthGate's own decisions read roles."""
        scopes = self.scopes
        if permission in scopes or "*" in scopes:
            return True
        resource, sep, _ = permission.partition(":")
        return bool(sep) and resource + ":*" in scopes
