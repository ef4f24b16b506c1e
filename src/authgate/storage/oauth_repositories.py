"""SQL for codes, grants, refresh tokens, opaque access tokens, the access-token deny list
and used assertions.
The atomic steps (redeeming a code, spending a refresh token) are single UPDATEs guarded
by ``used_at IS NULL``, so of concurrent attempts exactly one wins on every database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.storage.models import (
    AccessTokenRow,
    AuthorizationCodeRow,
    ConsentRow,
    GrantRow,
    RefreshTokenRow,
    RevokedTokenRow,
    UsedAssertionRow,
)
from authgate.storage.repositories import RevocationLog


class CodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: AuthorizationCodeRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def get(self, digest: str) -> AuthorizationCodeRow | None:
        return await self._s.get(AuthorizationCodeRow, digest)

    async def mark_used(self, digest: str, grant_id: str, now: datetime) -> bool:
        result = await self._s.execute(
            update(AuthorizationCodeRow)
            .where(AuthorizationCodeRow.digest == digest, AuthorizationCodeRow.used_at.is_(None))
            .values(used_at=now, grant_id=grant_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def discard_unused(self, user_id: str, client_id: str) -> None:
        """Codes issued but not yet redeemed die with the consent they came from."""
        await self._s.execute(
            delete(AuthorizationCodeRow).where(
                AuthorizationCodeRow.user_id == user_id,
                AuthorizationCodeRow.client_id == client_id,
                AuthorizationCodeRow.used_at.is_(None),
            )
        )


class GrantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: GrantRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def get(self, grant_id: str) -> GrantRow | None:
        return await self._s.get(GrantRow, grant_id)

    async def revoke(self, grant_id: str, now: datetime) -> None:
        result = await self._s.execute(
            update(GrantRow)
            .where(GrantRow.id == grant_id, GrantRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await RevocationLog(self._s).record("grant", grant_id, now)

    async def revoke_for(self, user_id: str, client_id: str, now: datetime) -> None:
        live = (
            GrantRow.user_id == user_id,
            GrantRow.client_id == client_id,
            GrantRow.revoked_at.is_(None),
        )
        ids = (await self._s.execute(select(GrantRow.id).where(*live))).scalars().all()
        if not ids:
            return
        await self._s.execute(update(GrantRow).where(GrantRow.id.in_(ids)).values(revoked_at=now))
        log = RevocationLog(self._s)
        for grant_id in ids:
            await log.record("grant", grant_id, now)


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, row: RefreshTokenRow) -> None:
        self._s.add(row)
        await self._s.flush()

    async def get(self, digest: str) -> RefreshTokenRow | None:
        return await self._s.get(RefreshTokenRow, digest)

    async def spend(self, digest: str, now: datetime) -> bool:
        result = await self._s.execute(
            update(RefreshTokenRow)
            .where(
                RefreshTokenRow.digest == digest,
                RefreshTokenRow.used_at.is_(None),
                RefreshTokenRow.expires_at > now,
            )
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class AccessTokenRepository:
    """Opaque access tokens: claims under the token's digest, never updated."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, digest: str, claims: dict[str, Any], expires_at: datetime) -> None:
        self._s.add(AccessTokenRow(digest=digest, claims=claims, expires_at=expires_at))
        await self._s.flush()

    async def claims(self, digest: str) -> dict[str, Any] | None:
        query = select(AccessTokenRow.claims).where(AccessTokenRow.digest == digest)
        found = (await self._s.execute(query)).scalar_one_or_none()
        return dict(found) if found is not None else None

    async def purge(self, now: datetime) -> int:
        result = await self._s.execute(
            delete(AccessTokenRow).where(AccessTokenRow.expires_at <= now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class DenyListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, jti: str, expires_at: datetime, now: datetime) -> None:
        if await self._s.get(RevokedTokenRow, jti) is None:
            self._s.add(RevokedTokenRow(jti=jti, expires_at=expires_at))
            await self._s.flush()
            await RevocationLog(self._s).record("jti", jti, now, expires_at)

    async def contains(self, jti: str) -> bool:
        query = select(exists().where(RevokedTokenRow.jti == jti))
        return bool((await self._s.execute(query)).scalar())

    async def purge(self, now: datetime) -> None:
        await self._s.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at <= now))


class AssertionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def seen(self, key: str) -> bool:
        return await self._s.get(UsedAssertionRow, key) is not None

    async def add(self, key: str, expires_at: datetime) -> None:
        self._s.add(UsedAssertionRow(key=key, expires_at=expires_at))
        await self._s.flush()

    async def purge(self, now: datetime) -> None:
        await self._s.execute(delete(UsedAssertionRow).where(UsedAssertionRow.expires_at <= now))


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, user_id: str, client_id: str) -> ConsentRow | None:
        return await self._s.get(ConsentRow, (user_id, client_id))

    async def put(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> None:
        row = await self.get(user_id, client_id)
        if row is None:
            self._s.add(
                ConsentRow(user_id=user_id, client_id=client_id, scopes=scopes, granted_at=now)
            )
        else:
            row.scopes = sorted(set(row.scopes) | set(scopes))
            row.granted_at = now
        await self._s.flush()

    async def delete(self, user_id: str, client_id: str) -> bool:
        result = await self._s.execute(
            delete(ConsentRow).where(
                ConsentRow.user_id == user_id, ConsentRow.client_id == client_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def for_user(self, user_id: str) -> list[ConsentRow]:
        rows = await self._s.execute(
            select(ConsentRow).where(ConsentRow.user_id == user_id).order_by(ConsentRow.client_id)
        )
        return list(rows.scalars())
