"""A protected API as the API service hands it out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authgate.storage.models import ApiRow

JWT = "jwt"
OPAQUE = "opaque"
TOKEN_FORMATS = (JWT, OPAQUE)


@dataclass(frozen=True, slots=True)
class Api:
    audience: str
    name: str
    permissions: tuple[str, ...]
    token_format: str  # "jwt" (RFC 9068) or "opaque" (reference tokens, RFC 7662)

    @classmethod
    def from_row(cls, row: ApiRow) -> Api:
        return cls(
            audience=row.audience,
            name=row.name,
            permissions=tuple(row.permissions),
            token_format=row.token_format,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "name": self.name,
            "permissions": list(self.permissions),
            "token_format": self.token_format,
        }
