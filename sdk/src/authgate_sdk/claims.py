"""What a verified AuthGate credential says: an access token (RFC 9068 §2.2) or an API key
(as introspection describes it, RFC 7662 §2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

#: ``jwt``: a JWT access token verified locally; ``opaque``: an opaque access token
#: (``agat_…``) checked by introspection; ``api_key``: an API key (``agk_…``), likewise.
CredentialKind = Literal["jwt", "opaque", "api_key"]


@dataclass(frozen=True, slots=True)
class Claims:
    """``subject`` is a user's id, or the client id for a client-credentials token (for an
    API key: its owner's id, a user or a client as ``subject_type`` says); ``scopes`` are
    the permissions granted (the ``scope`` claim; for an API key, what the key may do).

    ``client_id`` is the client the token was issued to (for an API key, the owning
    client's id, None when a user owns it); ``expires_at`` is None for an API key that
    never expires; ``key_id`` names the API key (None for tokens)."""

    subject: str
    client_id: str | None
    scopes: frozenset[str]
    expires_at: datetime | None
    raw: Mapping[str, Any]
    kind: CredentialKind = "jwt"
    subject_type: str | None = None
    key_id: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Claims:
        scope = payload.get("scope", "")
        return cls(
            subject=payload["sub"],
            client_id=payload["client_id"],
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            raw=payload,
            subject_type="client" if payload["sub"] == payload["client_id"] else "user",
        )

    @classmethod
    def from_introspection(cls, body: Mapping[str, Any], kind: CredentialKind) -> Claims:
        """Claims of an active RFC 7662 answer (checked by the caller)."""
        scope = body.get("scope", "")
        exp = body.get("exp")
        client_id = body.get("client_id")
        key_id = body.get("key_id")
        subject_type = body.get("subject_type")
        if subject_type is None and kind != "api_key":
            subject_type = "client" if body.get("sub") == client_id else "user"
        return cls(
            subject=str(body.get("sub") or client_id or ""),
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            expires_at=datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None,
            raw=body,
            kind=kind,
            subject_type=subject_type if isinstance(subject_type, str) else None,
            key_id=key_id if isinstance(key_id, str) else None,
        )

    def has(self, permission: str) -> bool:
        """Whether the credential grants ``permission`` (``resource:action``), directly,
        through ``resource:*`` or through ``*`` — as AuthGate's own decisions read roles."""
        scopes = self.scopes
        if permission in scopes or "*" in scopes:
            return True
        resource, sep, _ = permission.partition(":")
        return bool(sep) and resource + ":*" in scopes
