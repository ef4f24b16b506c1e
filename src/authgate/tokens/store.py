"""The engine's storage ports (codes, grants, refresh tokens, opaque access tokens, deny
list, assertion ledger) on the database. Code redemption and refresh rotation are single transactions."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from authgate.protocol.ports import CodeRecord, CodeReplayed, GrantRecord, RefreshReused
from authgate.storage.db import Database
from authgate.storage.models import AuthorizationCodeRow, GrantRow, RefreshTokenRow
from authgate.storage.oauth_repositories import (
    AccessTokenRepository,
    AssertionRepository,
    CodeRepository,
    DenyListRepository,
    GrantRepository,
    RefreshTokenRepository,
)


def _grant(
    row: GrantRow, *, scope: str | None = None, expires_at: datetime | None = None
) -> GrantRecord:
    return GrantRecord(
        id=row.id,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=row.scope if scope is None else scope,
        audience=row.audience,
        auth_time=row.auth_time,
        amr=tuple(row.amr),
        expires_at=row.expires_at if expires_at is None else expires_at,
        revoked=row.revoked_at is not None,
    )


class SqlTokenStore:
    def __init__(
        self,
        db: Database,
        on_revoked: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._now = now
        #: Called after a revocation committed, so this process's caches drop at once.
        self._on_revoked = on_revoked or (lambda: None)

    # -- CodeStore ----------------------------------------------------------------------

    async def save(self, record: CodeRecord) -> None:
        async with self._db.transaction() as session:
            await CodeRepository(session).add(
                AuthorizationCodeRow(
                    digest=record.digest,
                    client_id=record.client_id,
                    user_id=record.user_id,
                    redirect_uri=record.redirect_uri,
                    scope=record.scope,
                    audience=record.audience,
                    code_challenge=record.code_challenge,
                    nonce=record.nonce,
                    auth_time=record.auth_time,
                    amr=list(record.amr),
                    expires_at=record.expires_at,
                )
            )

    async def peek(self, digest: str) -> CodeRecord | None:
        async with self._db.transaction() as session:
            row = await CodeRepository(session).get(digest)
            if row is None:
                return None
            return CodeRecord(
                digest=row.digest,
                client_id=row.client_id,
                user_id=row.user_id,
                redirect_uri=row.redirect_uri,
                scope=row.scope,
                audience=row.audience,
                code_challenge=row.code_challenge,
                nonce=row.nonce,
                auth_time=row.auth_time,
                amr=tuple(row.amr),
                expires_at=row.expires_at,
                used=row.used_at is not None,
            )

    async def redeem(self, digest: str, grant: GrantRecord, now: datetime) -> None:
        replayed = False
        async with self._db.transaction() as session:
            codes = CodeRepository(session)
            if await codes.mark_used(digest, grant.id, now):
                await GrantRepository(session).add(
                    GrantRow(
                        id=grant.id,
                        client_id=grant.client_id,
                        user_id=grant.user_id,
                        scope=grant.scope,
                        audience=grant.audience,
                        auth_time=grant.auth_time,
                        amr=list(grant.amr),
                        created_at=now,
                        expires_at=grant.expires_at,
                        revoked_at=None,
                    )
                )
            else:
                replayed = True
                row = await codes.get(digest)
                if row is not None and row.grant_id is not None:
                    await GrantRepository(session).revoke(row.grant_id, now)
        if replayed:  # raised after the revocation has committed
            self._on_revoked()
            raise CodeReplayed(digest)

    # -- GrantStore ---------------------------------------------------------------------

    async def add_refresh(
        self, grant_id: str, digest: str, scope: str, now: datetime, expires_at: datetime
    ) -> None:
        async with self._db.transaction() as session:
            await RefreshTokenRepository(session).add(
                RefreshTokenRow(
                    digest=digest,
                    grant_id=grant_id,
                    scope=scope,
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                )
            )

    async def refresh_owner(self, digest: str) -> tuple[GrantRecord, bool] | None:
        async with self._db.transaction() as session:
            token = await RefreshTokenRepository(session).get(digest)
            if token is None:
                return None
            grant = await GrantRepository(session).get(token.grant_id)
            if grant is None:
                return None
            record = _grant(grant, scope=token.scope, expires_at=token.expires_at)
            return record, token.used_at is not None

    async def rotate_refresh(self, digest: str, now: datetime) -> GrantRecord | None:
        reused = False
        async with self._db.transaction() as session:
            tokens, grants = RefreshTokenRepository(session), GrantRepository(session)
            if await tokens.spend(digest, now):
                token = await tokens.get(digest)
                grant = await grants.get(token.grant_id) if token else None
                if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
                    return None
                return _grant(grant, scope=token.scope if token else None)
            token = await tokens.get(digest)
            if token is not None and token.used_at is not None:
                # RFC 9700 §4.14.2: a used refresh token again means one copy is in the
                # wrong hands; end the whole family.
                await grants.revoke(token.grant_id, now)
                reused = True
        if reused:  # raised after the revocation has committed
            self._on_revoked()
            raise RefreshReused(digest)
        return None

    async def revoke_grant(self, grant_id: str, now: datetime) -> None:
        async with self._db.transaction() as session:
            await GrantRepository(session).revoke(grant_id, now)
        self._on_revoked()

    async def grant(self, grant_id: str) -> GrantRecord | None:
        async with self._db.transaction() as session:
            row = await GrantRepository(session).get(grant_id)
            return _grant(row) if row else None

    # -- AccessTokenStore ---------------------------------------------------------------

    async def save_access_token(
        self, digest: str, claims: Mapping[str, Any], expires_at: datetime
    ) -> None:
        async with self._db.transaction() as session:
            await AccessTokenRepository(session).add(digest, dict(claims), expires_at)

    async def access_token_claims(self, digest: str) -> dict[str, Any] | None:
        async with self._db.transaction() as session:
            return await AccessTokenRepository(session).claims(digest)

    async def purge_expired_access_tokens(self, now: datetime) -> int:
        """Deletes opaque access tokens past their ``exp`` (housekeeping); their deny-list
        entries expire with them. Returns how many were deleted."""
        async with self._db.transaction() as session:
            return await AccessTokenRepository(session).purge(now)

    # -- DenyList -----------------------------------------------------------------------

    async def add(self, jti: str, expires_at: datetime) -> None:
        async with self._db.transaction() as session:
            await DenyListRepository(session).add(jti, expires_at, self._now())
        self._on_revoked()

    async def contains(self, jti: str) -> bool:
        async with self._db.transaction() as session:
            return await DenyListRepository(session).contains(jti)

    # -- AssertionLedger ----------------------------------------------------------------

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        hashed = hashlib.sha256(key.encode()).hexdigest()
        try:
            async with self._db.transaction() as session:
                ledger = AssertionRepository(session)
                if await ledger.seen(hashed):
                    return False
                await ledger.add(hashed, expires_at)
        except IntegrityError:  # a concurrent request recorded it first
            return False
        return True
