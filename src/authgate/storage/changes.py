"""Change counters, polled: how a process learns that a model it caches changed, whoever
changed it (another replica, the CLI)."""

from __future__ import annotations

import asyncio
import logging
import time

from authgate.errors import StorageUnavailable
from authgate.storage.db import Database
from authgate.storage.repositories import ChangeCounterRepository

log = logging.getLogger("authgate.storage")

#: Bumped by every write to clients, APIs, roles, groups, bindings and user attributes.
ACCESS_COUNTER = "access"


class ChangeWatch:
    """Knows whether a cached model changed since the caches were filled."""

    def __init__(self, db: Database, poll_seconds: float, counter: str = ACCESS_COUNTER) -> None:
        self._db = db
        self._poll_seconds = poll_seconds
        self._counter = counter
        self._seen: int | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()
        self.generation = 0

    async def current(self) -> int:
        """The cache generation; it moves when the database's counter moved."""
        if time.monotonic() - self._checked_at < self._poll_seconds or self._lock.locked():
            return self.generation
        async with self._lock:
            try:
                async with self._db.transaction() as session:
                    value = await ChangeCounterRepository(session).value(self._counter)
            except StorageUnavailable:
                # Spec §7: work that needs no database (verifying a JWT, answering from
                # caches) keeps going on what is known; look again after the interval,
                # not on every request.
                self._checked_at = time.monotonic()
                log.warning("database unreachable; %s caches kept as they are", self._counter)
                return self.generation
            self._checked_at = time.monotonic()
            if value != self._seen:
                self._seen = value
                self.generation += 1
        return self.generation

    def invalidate(self) -> None:
        """This process changed the model: drop its caches now, not at the next poll."""
        self.generation += 1
