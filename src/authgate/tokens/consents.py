"""Remembered consent: per user and client, the scopes the user agreed to share.
Revocable by the user; revoking also ends the grants that client holds for the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.storage.db import Database
from authgate.storage.oauth_repositories import (
    CodeRepository,
    ConsentRepository,
    GrantRepository,
)
from authgate.storage.repositories import ClientRepository


def _plausible_client_id(client_id: str) -> bool:
    """RFC 6749 Appendix A.1: VSCHAR, and at most the column's 128. Anything else (a NUL
    from a crafted URL breaks PostgreSQL) cannot name a consent, so it is not looked up."""
    return 0 < len(client_id) <= 128 and client_id.isascii() and client_id.isprintable()


async def _client_scope(session: AsyncSession, client_id: str) -> str:
    """Consent events are recorded at the client's scope (``/`` once it is gone)."""
    row = await ClientRepository(session).get(client_id)
    return row.scope if row is not None else GLOBAL_SCOPE


@dataclass(frozen=True)
class Consent:
    client_id: str
    scopes: tuple[str, ...]
    granted_at: datetime


class ConsentService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def scopes(self, user_id: str, client_id: str) -> frozenset[str]:
        if not _plausible_client_id(client_id):
            return frozenset()
        async with self._db.transaction() as session:
            row = await ConsentRepository(session).get(user_id, client_id)
            return frozenset(row.scopes) if row else frozenset()

    async def grant(
        self, user_id: str, client_id: str, scopes: list[str], ctx: AuditContext
    ) -> None:
        async with self._db.transaction() as session:
            await ConsentRepository(session).put(user_id, client_id, scopes, self._clock.now())
            await self._audit.append(
                session,
                AuditTag.OAUTH_CONSENT_GRANTED,
                ctx,
                scope=await _client_scope(session, client_id),
                subject=f"user:{user_id}",
                details={"client_id": client_id, "scopes": scopes},
            )

    async def revoke(self, user_id: str, client_id: str, ctx: AuditContext) -> bool:
        """Forget the consent and revoke the user's grants to that client (their refresh
        token families and, through ``gid``, their access tokens), with the audit event,
        in one transaction: the next authorization asks again and nothing issued before —
        not even a code not yet redeemed — keeps working. False when this user has no consent for that client."""
        if not _plausible_client_id(client_id):
            return False
        now = self._clock.now()
        async with self._db.transaction() as session:
            removed = await ConsentRepository(session).delete(user_id, client_id)
            if removed:
                await GrantRepository(session).revoke_for(user_id, client_id, now)
                await CodeRepository(session).discard_unused(user_id, client_id)
                await self._audit.append(
                    session,
                    AuditTag.OAUTH_CONSENT_REVOKED,
                    ctx,
                    scope=await _client_scope(session, client_id),
                    subject=f"user:{user_id}",
                    details={"client_id": client_id},
                )
            return removed

    async def for_user(self, user_id: str) -> list[Consent]:
        async with self._db.transaction() as session:
            rows = await ConsentRepository(session).for_user(user_id)
            return [Consent(r.client_id, tuple(r.scopes), r.granted_at) for r in rows]
