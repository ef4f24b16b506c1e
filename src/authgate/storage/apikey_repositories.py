"""SQL for API keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.storage.models import ApiKeyRow


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: ApiKeyRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def get(self, key_id: str, *, lock: bool = False) -> ApiKeyRow | None:
        if lock:
            found = await self._s.execute(
                select(ApiKeyRow).where(ApiKeyRow.id == key_id).with_for_update()
            )
            return found.scalar_one_or_none()
        return await self._s.get(ApiKeyRow, key_id)

    async def count_live(self, owner: str) -> int:
        found = await self._s.execute(
            select(func.count())
            .select_from(ApiKeyRow)
            .where(ApiKeyRow.owner == owner, ApiKeyRow.revoked_at.is_(None))
        )
        return int(found.scalar() or 0)

    async def page(self, owner: str | None, after: str | None, limit: int) -> Sequence[ApiKeyRow]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.id).limit(limit)
        if owner is not None:
            query = query.where(ApiKeyRow.owner == owner)
        if after is not None:
            query = query.where(ApiKeyRow.id > after)
        return (await self._s.execute(query)).scalars().all()

    async def record_use(self, used: Mapping[str, datetime]) -> None:
        """Moves ``last_used_at`` forward only: replicas flushing out of order never move
        it back."""
        for key_id, at in used.items():
            await self._s.execute(
                update(ApiKeyRow)
                .where(
                    ApiKeyRow.id == key_id,
                    or_(ApiKeyRow.last_used_at.is_(None), ApiKeyRow.last_used_at < at),
                )
                .values(last_used_at=at)
            )
