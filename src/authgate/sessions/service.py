"""Browser sessions: an opaque cookie token, stored only as a keyed digest.

A session starts at ``mfa`` stage when the password was right but a second factor is
due, and becomes ``active`` with a *new* token once it is given (a privilege change gets a
fresh identifier: OWASP Session Management Cheat Sheet, "Renew the Session ID").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from authgate.clock import Clock
from authgate.digests import Digester, new_secret
from authgate.storage.db import Database
from authgate.storage.models import SessionRow
from authgate.storage.repositories import SessionRepository, UserRepository

ACTIVE = "active"
MFA_PENDING = "mfa"
TOKEN_PREFIX = "ags"


@dataclass(frozen=True)
class BrowserSession:
    user_id: str
    username: str
    stage: str
    amr: list[str]
    auth_time: datetime
    expires_at: datetime


class SessionService:
    def __init__(self, db: Database, digester: Digester, clock: Clock, ttl: timedelta) -> None:
        self._db = db
        self._digester = digester
        self._clock = clock
        self._ttl = ttl
        # A second-factor prompt must be answered soon after the password.
        self._pending_ttl = min(ttl, timedelta(minutes=10))

    async def start(
        self,
        user_id: str,
        stage: str,
        amr: list[str],
        *,
        source_ip: str | None,
        user_agent: str | None,
        replaces: str | None = None,
    ) -> str:
        token = new_secret(TOKEN_PREFIX)
        now = self._clock.now()
        ttl = self._ttl if stage == ACTIVE else self._pending_ttl
        async with self._db.transaction() as session:
            repo = SessionRepository(session)
            if replaces:
                await repo.delete(self._digester.digest(replaces))
            await repo.add(
                SessionRow(
                    digest=self._digester.digest(token),
                    user_id=user_id,
                    stage=stage,
                    amr=amr,
                    auth_time=now,
                    created_at=now,
                    expires_at=now + ttl,
                    source_ip=source_ip,
                    user_agent=(user_agent or "")[:512] or None,
                )
            )
        return token

    async def lookup(self, token: str | None) -> BrowserSession | None:
        """The live session for a cookie value, or None (unknown, expired, user disabled)."""
        if not token or not token.startswith(TOKEN_PREFIX + "_") or len(token) > 200:
            return None
        async with self._db.transaction() as session:
            row = await SessionRepository(session).get(self._digester.digest(token))
            if row is None or row.expires_at <= self._clock.now():
                return None
            user = await UserRepository(session).by_id(row.user_id)
            if user is None or user.disabled:
                return None
            return BrowserSession(
                user_id=row.user_id,
                username=user.username,
                stage=row.stage,
                amr=list(row.amr),
                auth_time=row.auth_time,
                expires_at=row.expires_at,
            )

    async def end(self, token: str | None) -> None:
        if not token:
            return
        async with self._db.transaction() as session:
            await SessionRepository(session).delete(self._digester.digest(token))

    async def purge_expired(self) -> int:
        async with self._db.transaction() as session:
            return await SessionRepository(session).delete_expired(self._clock.now())
