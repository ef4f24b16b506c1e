"""SQL for the access model beyond single rows: role inheritance, groups and their
members, and listings with a stable order for cursor pagination."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.storage.models import (
    BindingRow,
    GroupMemberRow,
    GroupRow,
    RoleParentRow,
    RoleRow,
)


class RoleGraphRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def all_edges(self) -> list[tuple[str, str]]:
        rows = await self._s.execute(select(RoleParentRow.role, RoleParentRow.parent))
        return [(role, parent) for role, parent in rows]

    async def parents(self, role: str) -> list[str]:
        rows = await self._s.execute(
            select(RoleParentRow.parent)
            .where(RoleParentRow.role == role)
            .order_by(RoleParentRow.parent)
        )
        return list(rows.scalars())

    async def parents_of_many(self, roles: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {name: [] for name in roles}
        if not roles:
            return found
        rows = await self._s.execute(
            select(RoleParentRow.role, RoleParentRow.parent)
            .where(RoleParentRow.role.in_(list(roles)))
            .order_by(RoleParentRow.parent)
        )
        for role, parent in rows:
            found[role].append(parent)
        return found

    async def set_parents(self, role: str, parents: Sequence[str]) -> None:
        await self._s.execute(delete(RoleParentRow).where(RoleParentRow.role == role))
        for parent in parents:
            self._s.add(RoleParentRow(role=role, parent=parent))
        await self._s.flush()

    async def list_roles(self, after: str | None, limit: int) -> Sequence[RoleRow]:
        query = select(RoleRow).order_by(RoleRow.name).limit(limit)
        if after is not None:
            query = query.where(RoleRow.name > after)
        return (await self._s.execute(query)).scalars().all()

    async def delete_role(self, name: str) -> None:
        # Bindings and inheritance edges go with it (ON DELETE CASCADE), stated here too
        # so the outcome does not depend on the database enforcing foreign keys.
        await self._s.execute(delete(BindingRow).where(BindingRow.role == name))
        await self._s.execute(
            delete(RoleParentRow).where(
                (RoleParentRow.role == name) | (RoleParentRow.parent == name)
            )
        )
        await self._s.execute(delete(RoleRow).where(RoleRow.name == name))


class GroupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, name: str, *, lock: bool = False) -> GroupRow | None:
        if lock:
            query = select(GroupRow).where(GroupRow.name == name).with_for_update()
            return (await self._s.execute(query)).scalar_one_or_none()
        return await self._s.get(GroupRow, name)

    async def add(self, row: GroupRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def delete(self, name: str) -> None:
        member = f"group:{name}"
        await self._s.execute(delete(BindingRow).where(BindingRow.member == member))
        await self._s.execute(delete(GroupMemberRow).where(GroupMemberRow.group == name))
        await self._s.execute(delete(GroupRow).where(GroupRow.name == name))

    async def list_groups(self, after: str | None, limit: int) -> Sequence[GroupRow]:
        query = select(GroupRow).order_by(GroupRow.name).limit(limit)
        if after is not None:
            query = query.where(GroupRow.name > after)
        return (await self._s.execute(query)).scalars().all()

    async def members(self, name: str) -> list[str]:
        rows = await self._s.execute(
            select(GroupMemberRow.user_id)
            .where(GroupMemberRow.group == name)
            .order_by(GroupMemberRow.user_id)
        )
        return list(rows.scalars())

    async def groups_of(self, user_id: str) -> list[str]:
        rows = await self._s.execute(
            select(GroupMemberRow.group)
            .where(GroupMemberRow.user_id == user_id)
            .order_by(GroupMemberRow.group)
        )
        return list(rows.scalars())

    async def add_member(self, name: str, user_id: str) -> bool:
        """False when the user was a member already."""
        found = await self._s.get(GroupMemberRow, (name, user_id))
        if found is not None:
            return False
        self._s.add(GroupMemberRow(group=name, user_id=user_id))
        await self._s.flush()
        return True

    async def remove_member(self, name: str, user_id: str) -> bool:
        result = await self._s.execute(
            delete(GroupMemberRow).where(
                GroupMemberRow.group == name, GroupMemberRow.user_id == user_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class BindingListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def list(
        self,
        after: str | None,
        limit: int,
        *,
        member: str | None = None,
        role: str | None = None,
        scope: str | None = None,
    ) -> Sequence[BindingRow]:
        query = select(BindingRow).order_by(BindingRow.id).limit(limit)
        if after is not None:
            query = query.where(BindingRow.id > after)
        if member is not None:
            query = query.where(BindingRow.member == member)
        if role is not None:
            query = query.where(BindingRow.role == role)
        if scope is not None:
            query = query.where(BindingRow.scope == scope)
        return (await self._s.execute(query)).scalars().all()
