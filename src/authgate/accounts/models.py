"""The account as services hand it out: no hashes, no secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authgate.storage.models import UserRow


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False
    mfa_enabled: bool = False
    created_at: datetime | None = None
    scope: str = "/"
    """The resource path the account lives under (its administrators are bound there)."""

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=row.id,
            username=row.username,
            email=row.email,
            attributes=dict(row.attributes),
            disabled=row.disabled,
            mfa_enabled=row.totp_enabled_at is not None,
            created_at=row.created_at,
            scope=row.scope,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "attributes": self.attributes,
            "disabled": self.disabled,
            "mfa_enabled": self.mfa_enabled,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "scope": self.scope,
        }
