"""Narrow repositories over one transaction's session. Services own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.storage.models import RecoveryCodeRow, SessionRow, SigningKeyRow, UserRow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_key(self, username_key: str, *, lock: bool = False) -> UserRow | None:
        query = select(UserRow).where(UserRow.username_key == username_key)
        if lock:
            query = query.with_for_update()
        return (await self._s.execute(query)).scalar_one_or_none()

    async def by_id(self, user_id: str, *, lock: bool = False) -> UserRow | None:
        return await self._s.get(UserRow, user_id, with_for_update=lock)

    async def add(self, row: UserRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def delete(self, row: UserRow) -> None:
        await self._s.delete(row)
        await self._s.flush()

    async def list(self, limit: int = 100) -> Sequence[UserRow]:
        rows = await self._s.execute(select(UserRow).order_by(UserRow.username_key).limit(limit))
        return rows.scalars().all()


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: SessionRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def get(self, digest: str) -> SessionRow | None:
        return await self._s.get(SessionRow, digest)

    async def delete(self, digest: str) -> None:
        await self._s.execute(delete(SessionRow).where(SessionRow.digest == digest))

    async def delete_for_user(self, user_id: str) -> int:
        result = await self._s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_expired(self, now: datetime) -> int:
        result = await self._s.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def replace(self, user_id: str, digests: Sequence[str]) -> None:
        await self._s.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.user_id == user_id))
        self._s.add_all(RecoveryCodeRow(digest=d, user_id=user_id) for d in digests)
        await self._s.flush()

    async def use(self, user_id: str, digest: str, now: datetime) -> bool:
        """Mark one unused code used; False when there is no such unused code."""
        result = await self._s.execute(
            update(RecoveryCodeRow)
            .where(
                RecoveryCodeRow.digest == digest,
                RecoveryCodeRow.user_id == user_id,
                RecoveryCodeRow.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remaining(self, user_id: str) -> int:
        rows = await self._s.execute(
            select(RecoveryCodeRow.digest).where(
                RecoveryCodeRow.user_id == user_id, RecoveryCodeRow.used_at.is_(None)
            )
        )
        return len(rows.all())


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def all(self) -> Sequence[SigningKeyRow]:
        rows = await self._s.execute(select(SigningKeyRow).order_by(SigningKeyRow.activates_at))
        return rows.scalars().all()

    async def add(self, row: SigningKeyRow) -> None:
        self._s.add(row)
        await self._s.flush()
