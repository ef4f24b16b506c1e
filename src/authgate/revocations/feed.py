"""Reading and waiting for revocation events, one shared poll per process.

Every revocation writes a ``revocation_events`` row in the transaction that makes it
(``RevocationLog.record``). Followers ask for the events after the last ``seq`` they hold.
A :class:`RevocationFeed` serves them all from one poll of the table: every
``POLL_SECONDS`` while anyone waits, and at once when this process revoked something
(the revocation watch's generation moved). New events go to a window in memory, so a
follower that is caught up costs no query of its own.

An event is handed out only once every smaller ``seq`` is known: on PostgreSQL two
revocations may commit out of ``seq`` order, and a follower that jumped past the later
one's ``seq`` would never see the earlier one. A hole that stays open for
``GAP_GRACE_SECONDS`` is a rolled-back transaction (or a purged event) and is passed over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authgate.errors import StorageUnavailable
from authgate.storage.changes import ChangeWatch
from authgate.storage.db import Database
from authgate.storage.models import RevocationEventRow
from authgate.storage.repositories import RevocationLog

log = logging.getLogger("authgate.revocations")

#: How often the table is read while anyone follows (the 2 s bound: poll + delivery).
POLL_SECONDS = 0.5
#: How often the in-process revocation watch is looked at (no query: an integer compare).
WAKE_SECONDS = 0.02
#: How long a hole in ``seq`` holds back the events after it.
GAP_GRACE_SECONDS = 1.0
#: Events per answer, and per read of the table.
MAX_BATCH = 1000
#: Recent events kept in memory for followers that are (nearly) caught up.
WINDOW = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One revocation as published: ``at`` and ``expires_at`` in Unix seconds."""

    seq: int
    kind: str
    value: str
    at: int
    expires_at: int

    @classmethod
    def from_row(cls, row: RevocationEventRow) -> RevocationEvent:
        return cls(
            row.seq, row.kind, row.value, int(row.at.timestamp()), int(row.expires_at.timestamp())
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "value": self.value,
            "at": self.at,
            "expires_at": self.expires_at,
        }


class RevocationFeed:
    """The events after a ``seq``, now or as soon as there are some."""

    def __init__(
        self,
        db: Database,
        watch: ChangeWatch,
        now: Callable[[], datetime],
        *,
        poll_seconds: float = POLL_SECONDS,
        gap_grace_seconds: float = GAP_GRACE_SECONDS,
    ) -> None:
        self._db = db
        self._watch = watch
        self._now = now
        self._poll_seconds = poll_seconds
        self._gap_grace = gap_grace_seconds
        self._high: int | None = None  # every event up to here is known
        self._floor = 0  # the window holds every known event after this
        self._window: deque[RevocationEvent] = deque()
        self._gap_since: float | None = None
        self._news = asyncio.Event()
        self._lock = asyncio.Lock()
        self._followers = 0
        self._poller: asyncio.Task[None] | None = None
        self.closed = False

    async def events(self, after: int, limit: int = MAX_BATCH) -> list[RevocationEvent]:
        """Live events with ``seq > after``, oldest first."""
        if self._high is None:
            await self._poll()
        high = self._high or 0
        now = int(self._now().timestamp())
        if after >= self._floor:
            newer: list[RevocationEvent] = []
            for event in reversed(self._window):
                if event.seq <= after:
                    break
                newer.append(event)
            newer.reverse()
            return [e for e in newer if e.expires_at > now][:limit]
        async with self._db.transaction() as session:
            rows = await RevocationLog(session).since(after, self._now(), limit)
        return [RevocationEvent.from_row(row) for row in rows if row.seq <= high]

    async def wait(self, after: int, seconds: float) -> list[RevocationEvent]:
        """The events after ``after`` as soon as there is one, else [] after ``seconds``
        (or at once when the feed closes)."""
        deadline = time.monotonic() + seconds
        async with self.following():
            while True:
                news = self._news  # taken before reading: nothing published in between is lost
                found = await self.events(after)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or self.closed:
                    return found
                with suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), remaining)

    @asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Keeps the shared poll running while someone follows."""
        self._followers += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_while_followed())
        try:
            yield
        finally:
            self._followers -= 1

    def close(self) -> None:
        """The server is stopping: every waiter returns now, every stream ends."""
        self.closed = True
        self._publish()

    async def _poll_while_followed(self) -> None:
        while self._followers > 0 and not self.closed:
            seen = self._watch.generation
            try:
                await self._poll()
            except StorageUnavailable:
                log.warning("revocation feed: the database is unreachable")
            except Exception:  # a bug here must not stop the feed for good
                log.exception("revocation feed poll failed")
            await self._pause(seen)

    async def _pause(self, seen: int) -> None:
        """Until the next poll is due, or this process revoked something (the watch
        moved), or nobody follows any more."""
        due = time.monotonic() + self._poll_seconds
        for _ in range(int(self._poll_seconds / WAKE_SECONDS) + 2):
            if self._watch.generation != seen or self._followers == 0 or self.closed:
                return
            left = due - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(WAKE_SECONDS, left))

    async def _poll(self) -> None:
        async with self._lock:
            if self._high is None:
                async with self._db.transaction() as session:
                    self._high = self._floor = await RevocationLog(session).last_seq()
                return
            while True:
                # _EPOCH: expired rows count too, or they would look like holes.
                async with self._db.transaction() as session:
                    rows = await RevocationLog(session).since(self._high, _EPOCH, MAX_BATCH)
                taken = self._settle(rows)
                if taken:
                    self._publish()
                if len(rows) < MAX_BATCH or taken < len(rows):
                    return

    def _settle(self, rows: Sequence[RevocationEventRow]) -> int:
        """Moves the known high mark over ``rows`` (in ``seq`` order) up to the first hole
        younger than the grace period; returns how many rows it took."""
        assert self._high is not None
        taken = 0
        for row in rows:
            if row.seq != self._high + 1:
                if self._gap_since is None:
                    self._gap_since = time.monotonic()
                if time.monotonic() - self._gap_since < self._gap_grace:
                    break
            self._gap_since = None
            self._window.append(RevocationEvent.from_row(row))
            self._high = row.seq
            taken += 1
        while len(self._window) > WINDOW:
            self._floor = self._window.popleft().seq
        return taken

    def _publish(self) -> None:
        self._news.set()
        self._news = asyncio.Event()


async def forget_expired(db: Database, now: datetime) -> int:
    """Deletes events nothing needs any more. While the newest event is itself expired
    nothing is deleted: SQLite gives a deleted largest ``seq`` to the next row, and
    followers past that ``seq`` would never see it."""
    async with db.transaction() as session:
        events = RevocationLog(session)
        newest = await events.last_seq()
        if not await events.since(newest - 1, now, 1):
            return 0
        return await events.forget_expired(now)
