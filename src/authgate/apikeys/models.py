"""An API key as the service hands it out: never the secret, only its id and limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authgate.storage.models import ApiKeyRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    owner: str
    """``user:<id>`` or ``client:<id>``."""
    name: str
    permissions: tuple[str, ...]
    """Empty: whatever the owner holds, wherever the owner holds it."""
    allowed_networks: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=row.id,
            owner=row.owner,
            name=row.name,
            permissions=tuple(row.permissions),
            allowed_networks=tuple(row.allowed_networks),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "permissions": list(self.permissions),
            "allowed_networks": list(self.allowed_networks),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "last_used_at": _iso(self.last_used_at),
        }


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """What creation returns: the key in full, shown this once (spec §5)."""

    api_key: ApiKey
    key: str

    def to_json(self) -> dict[str, Any]:
        return {**self.api_key.to_json(), "key": self.key}
