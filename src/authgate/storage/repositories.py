"""Narrow repositories over one transaction's session. Services own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.settings import REVOCATION_RETENTION
from authgate.storage.models import (
    ApiRow,
    BindingRow,
    ChangeCounterRow,
    ClientRow,
    GrantRow,
    RecoveryCodeRow,
    RevocationEventRow,
    RoleRow,
    SessionRow,
    SigningKeyRow,
    UserRow,
)


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


class ClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, client_id: str, *, lock: bool = False) -> ClientRow | None:
        return await self._s.get(ClientRow, client_id, with_for_update=lock)

    async def add(self, row: ClientRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def delete(self, client_id: str) -> None:
        """The database cascades to the client's codes, grants, refresh tokens, consents."""
        await self._s.execute(delete(ClientRow).where(ClientRow.client_id == client_id))

    async def list(self) -> Sequence[ClientRow]:
        rows = await self._s.execute(
            select(ClientRow).order_by(ClientRow.name, ClientRow.client_id)
        )
        return rows.scalars().all()


class GrantRevoker:
    """The one write client management makes to the token tables: ending a client's grants."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def revoke_for_client(self, client_id: str, now: datetime) -> int:
        result = await self._s.execute(
            update(GrantRow)
            .where(GrantRow.client_id == client_id, GrantRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        # Tokens of the client's grants, and tokens of its own (client_credentials), all
        # end: one event names the client (the feed refuses what it was issued before now).
        await RevocationLog(self._s).record("client", client_id, now)
        return count


class ApiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, audience: str, *, lock: bool = False) -> ApiRow | None:
        return await self._s.get(ApiRow, audience, with_for_update=lock)

    async def add(self, row: ApiRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def list(self) -> Sequence[ApiRow]:
        return (await self._s.execute(select(ApiRow).order_by(ApiRow.audience))).scalars().all()


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, name: str, *, lock: bool = False) -> RoleRow | None:
        return await self._s.get(RoleRow, name, with_for_update=lock)

    async def add(self, row: RoleRow) -> None:
        self._s.add(row)
        await self._s.flush()


class BindingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, binding_id: str) -> BindingRow | None:
        return await self._s.get(BindingRow, binding_id)

    async def add(self, row: BindingRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def delete(self, binding_id: str) -> None:
        await self._s.execute(delete(BindingRow).where(BindingRow.id == binding_id))

    async def delete_for_member(self, member: str) -> int:
        result = await self._s.execute(delete(BindingRow).where(BindingRow.member == member))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def find(
        self, role: str, member: str, scope: str, condition: str | None
    ) -> BindingRow | None:
        query = select(BindingRow).where(
            BindingRow.role == role,
            BindingRow.member == member,
            BindingRow.scope == scope,
            BindingRow.condition.is_(None)
            if condition is None
            else BindingRow.condition == condition,
        )
        return (await self._s.execute(query.limit(1))).scalar_one_or_none()

    async def permissions_of(self, member: str, scope: str) -> list[list[str]]:
        """The permission lists of the roles bound to ``member`` at exactly ``scope``,
        without a condition."""
        rows = await self._s.execute(
            select(RoleRow.permissions)
            .join(BindingRow, BindingRow.role == RoleRow.name)
            .where(
                BindingRow.member == member,
                BindingRow.scope == scope,
                BindingRow.condition.is_(None),
            )
        )
        return [list(p) for p in rows.scalars().all()]


#: Bumped by every revocation (deny-listed jti, ended grant, disabled or deleted user), so
#: each process can cache "not revoked" answers and drop them when something was revoked.
REVOCATIONS_COUNTER = "revocations"


class RevocationLog:
    """Records a revocation in the same transaction that made it: one ordered row for the
    revocation feed, and a bump of the ``revocations`` counter for the caches."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record(
        self, kind: str, value: str, at: datetime, expires_at: datetime | None = None
    ) -> None:
        self._s.add(
            RevocationEventRow(
                kind=kind,
                value=value,
                at=at,
                expires_at=expires_at or at + REVOCATION_RETENTION,
            )
        )
        await self._s.flush()
        await ChangeCounterRepository(self._s).bump(REVOCATIONS_COUNTER)

    async def since(
        self, after: int, now: datetime, limit: int = 1000
    ) -> Sequence[RevocationEventRow]:
        """Events after ``after`` that still matter, oldest first."""
        rows = await self._s.execute(
            select(RevocationEventRow)
            .where(RevocationEventRow.seq > after, RevocationEventRow.expires_at > now)
            .order_by(RevocationEventRow.seq)
            .limit(limit)
        )
        return rows.scalars().all()

    async def last_seq(self) -> int:
        found = await self._s.execute(select(func.max(RevocationEventRow.seq)))
        return int(found.scalar() or 0)

    async def forget_expired(self, now: datetime) -> int:
        result = await self._s.execute(
            delete(RevocationEventRow).where(RevocationEventRow.expires_at <= now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class ChangeCounterRepository:
    """Counters other processes poll to learn that a cached model changed."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def bump(self, name: str) -> None:
        result = await self._s.execute(
            update(ChangeCounterRow)
            .where(ChangeCounterRow.name == name)
            .values(value=ChangeCounterRow.value + 1)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            self._s.add(ChangeCounterRow(name=name, value=1))
            await self._s.flush()

    async def value(self, name: str) -> int:
        row = await self._s.get(ChangeCounterRow, name, populate_existing=True)
        return row.value if row else 0
