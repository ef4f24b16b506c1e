"""Roles and bindings as the access service hands them out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authgate.storage.models import BindingRow, RoleRow


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    permissions: tuple[str, ...]
    inherits: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: RoleRow, inherits: Sequence[str] = ()) -> Role:
        return cls(name=row.name, permissions=tuple(row.permissions), inherits=tuple(inherits))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "permissions": list(self.permissions),
            "inherits": list(self.inherits),
        }


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str
    members: tuple[str, ...]  # user ids

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "members": list(self.members)}


@dataclass(frozen=True, slots=True)
class Binding:
    id: str
    role: str
    member: str
    scope: str
    condition: str | None

    @classmethod
    def from_row(cls, row: BindingRow) -> Binding:
        return cls(
            id=row.id, role=row.role, member=row.member, scope=row.scope, condition=row.condition
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "member": self.member,
            "scope": self.scope,
            "condition": self.condition,
        }
