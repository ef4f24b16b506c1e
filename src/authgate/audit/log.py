"""The append-only audit log, chained by keyed hashes so tampering is found.

Each event's hash is HMAC-SHA256 (key derived from the master key) over the previous
event's hash and the event's own fields; the ``audit_head`` row holds the newest hash, so
a deleted tail is found as surely as a deleted or edited row in the middle.

Every event carries the scope of the object it is about (the resource path at which
that object is administered, ``/`` for global ones). Events written before scopes were
recorded have none; the hash covers ``scope`` only when the row has one, so those still
verify while a changed, added or removed scope breaks the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.clock import Clock
from authgate.errors import InvalidInput
from authgate.storage.db import Database
from authgate.storage.models import AuditEventRow, AuditHeadRow
from authgate.storage.paths import at_or_below

GENESIS = "0" * 64
EXPORT_BATCH = 500
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z"
)


def parse_instant(text: str, what: str) -> datetime:
    """An RFC 3339 §5.6 date-time with its offset (``2026-11-28T04:00:00Z``)."""
    if not _RFC3339.match(text):
        raise InvalidInput(f"{what} must be an RFC 3339 date-time such as 2026-11-28T04:00:00Z")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds
        text = text.replace(fraction.group(0), fraction.group(0)[:7], 1)
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{what} {text!r} is not a valid date-time") from None


@dataclass(frozen=True)
class AuditFilter:
    """Which events to read: each given criterion must hold (tags: any of them).

    ``scope`` (a checked resource path) keeps the events at that scope or below it, whole
    segments only (``org:acme`` reaches ``org:acme/team:a``, not ``org:acme-two``); ``/``
    keeps every event, those written before scopes were recorded too."""

    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    actor: str | None = None
    subject: str | None = None
    tags: Sequence[str] = ()
    scope: str | None = None

    def select(self) -> Select[AuditEventRow]:
        query = select(AuditEventRow).order_by(AuditEventRow.id)
        if self.since is not None:
            query = query.where(AuditEventRow.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEventRow.occurred_at < self.until)
        if self.actor is not None:
            query = query.where(AuditEventRow.actor == self.actor)
        if self.subject is not None:
            query = query.where(AuditEventRow.subject == self.subject)
        if self.tags:
            query = query.where(AuditEventRow.tag.in_(list(self.tags)))
        if self.scope is not None and self.scope != GLOBAL_SCOPE:
            query = query.where(at_or_below(AuditEventRow.scope, self.scope))
        return query


def event_json(row: AuditEventRow) -> dict[str, Any]:
    """An event as the admin API and ``authgate audit export`` show it; ``prev_hash`` and
    ``hash`` let a reader follow the chain (checking it needs the master key)."""
    return {
        "id": row.id,
        "occurred_at": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "tag": row.tag,
        "actor": row.actor,
        "subject": row.subject,
        "scope": row.scope,
        "source_ip": row.source_ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    problems: list[str]


class AuditLog:
    def __init__(self, db: Database, key: bytes, clock: Clock) -> None:
        self._db = db
        self._key = key
        self._clock = clock

    def _hash(self, prev_hash: str, row: AuditEventRow) -> str:
        body: dict[str, Any] = {
            "id": row.id,
            "occurred_at": row.occurred_at.isoformat(),
            "tag": row.tag,
            "actor": row.actor,
            "subject": row.subject,
            "source_ip": row.source_ip,
            "user_agent": row.user_agent,
            "request_id": row.request_id,
            "details": row.details,
        }
        if row.scope is not None:  # absent from events written before scopes were recorded
            body["scope"] = row.scope
        message = prev_hash + json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def _head_mac(self, last_id: int, last_hash: str) -> str:
        """Keyed, so the head cannot be wound back to an earlier event without the key."""
        message = f"head:{last_id}:{last_hash}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def append(
        self,
        session: AsyncSession,
        tag: AuditTag,
        ctx: AuditContext,
        *,
        scope: str,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an event inside the caller's transaction (so it commits with the change).

        ``scope`` is where the event's object is administered (``GLOBAL_SCOPE`` for global
        objects): holders of ``authgate:audit.read`` there, or above, may read the event."""
        head = (
            await session.execute(
                select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
            )
        ).scalar_one()
        row = AuditEventRow(
            occurred_at=self._clock.now(),
            tag=str(tag),
            actor=ctx.actor,
            subject=subject,
            scope=scope,
            source_ip=ctx.source_ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
            request_id=ctx.request_id,
            details=details or {},
            prev_hash=head.last_hash,
            hash="",
        )
        session.add(row)
        await session.flush()  # assigns the id, which the hash covers
        row.hash = self._hash(head.last_hash, row)
        head.last_id = row.id
        head.last_hash = row.hash
        head.mac = self._head_mac(row.id, row.hash)

    async def record(
        self,
        tag: AuditTag,
        ctx: AuditContext,
        *,
        scope: str,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an event in a transaction of its own."""
        async with self._db.transaction() as session:
            await self.append(session, tag, ctx, scope=scope, subject=subject, details=details)

    async def recent(self, limit: int = 50) -> list[AuditEventRow]:
        """The newest events, newest first."""
        return await self.older(AuditFilter(), limit=limit)

    async def query(
        self, where: AuditFilter, *, after: int | None = None, limit: int = 50
    ) -> list[AuditEventRow]:
        """Matching events by id, ascending, the ones after event ``after``."""
        query = where.select().limit(limit)
        if after is not None:
            query = query.where(AuditEventRow.id > after)
        async with self._db.transaction() as session:
            return list((await session.execute(query)).scalars())

    async def older(
        self, where: AuditFilter, *, before: int | None = None, limit: int = 50
    ) -> list[AuditEventRow]:
        """Matching events by id, descending, the ones before event ``before``: the log
        read backwards a page at a time, with one indexed query per page."""
        query = where.select().order_by(None).order_by(AuditEventRow.id.desc()).limit(limit)
        if before is not None:
            query = query.where(AuditEventRow.id < before)
        async with self._db.transaction() as session:
            return list((await session.execute(query)).scalars())

    async def export(self, where: AuditFilter) -> AsyncIterator[AuditEventRow]:
        """Every matching event by id, read in batches (no transaction stays open while
        the caller writes them out)."""
        after: int | None = None
        while True:
            batch = await self.query(where, after=after, limit=EXPORT_BATCH)
            for row in batch:
                yield row
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].id

    async def verify(self) -> VerifyResult:
        problems: list[str] = []
        count = 0
        async with self._db.transaction() as session:
            head = (
                await session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1))
            ).scalar_one()
            result = await session.stream_scalars(select(AuditEventRow).order_by(AuditEventRow.id))
            prev_hash, prev_id = GENESIS, 0
            async for row in result:
                count += 1
                if row.prev_hash != prev_hash:
                    problems.append(
                        f"event #{row.id} ({row.tag}) does not link to event #{prev_id}: "
                        "an event between them was deleted or altered"
                    )
                if not hmac.compare_digest(self._hash(row.prev_hash, row), row.hash):
                    problems.append(
                        f"event #{row.id} ({row.tag}) was modified after it was written"
                    )
                prev_hash, prev_id = row.hash, row.id
            if head.last_id and not hmac.compare_digest(
                head.mac or "", self._head_mac(head.last_id, head.last_hash)
            ):
                problems.append(
                    "the chain head was altered: events at the end were probably deleted"
                )
            elif head.last_hash != prev_hash:
                problems.append(
                    f"the log ends at event #{prev_id} but the chain head records event "
                    f"#{head.last_id}: events at the end were deleted"
                )
        return VerifyResult(ok=not problems, events=count, problems=problems)
