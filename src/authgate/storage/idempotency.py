"""Remembered answers to creating requests sent with an ``Idempotency-Key``
(draft-ietf-httpapi-idempotency-key-header): one row per caller and key, reserved before
the request runs and completed with its answer (sealed: it may hold a secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from authgate.storage.db import Database
from authgate.storage.models import IdempotencyKeyRow


@dataclass(frozen=True)
class Remembered:
    """What an earlier request with the same caller and key left."""

    fingerprint: str
    status: int | None  # None: still running
    response: bytes | None


class IdempotencyStore:
    """Reserve, complete, release, forget. A row older than ``expire_before`` counts as
    absent, and a reservation older than ``stale_before`` (its request died) may be taken
    over."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(
        self,
        caller: str,
        key: str,
        fingerprint: str,
        now: datetime,
        *,
        expire_before: datetime,
        stale_before: datetime,
    ) -> Remembered | None:
        """None when this request now holds the key; else what is already there."""
        try:
            async with self._db.transaction() as session:
                row = await session.get(IdempotencyKeyRow, (caller, key))
                if row is None:
                    session.add(
                        IdempotencyKeyRow(
                            caller=caller,
                            key=key,
                            fingerprint=fingerprint,
                            status=None,
                            response=None,
                            created_at=now,
                        )
                    )
                    await session.flush()
                    return None
                expired = row.created_at < expire_before
                abandoned = row.status is None and row.created_at < stale_before
                if expired or abandoned:
                    # Take it over, unless another request did so first.
                    taken = await session.execute(
                        update(IdempotencyKeyRow)
                        .where(
                            IdempotencyKeyRow.caller == caller,
                            IdempotencyKeyRow.key == key,
                            IdempotencyKeyRow.created_at == row.created_at,
                        )
                        .values(fingerprint=fingerprint, created_at=now, status=None, response=None)
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(taken, "rowcount", 0) == 1:
                        return None
                    return Remembered(fingerprint, None, None)
                return Remembered(row.fingerprint, row.status, row.response)
        except IntegrityError:
            # Another request took the key between the read and the write: it is running.
            return Remembered(fingerprint, None, None)

    async def complete(self, caller: str, key: str, status: int, response: bytes) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(IdempotencyKeyRow)
                .where(IdempotencyKeyRow.caller == caller, IdempotencyKeyRow.key == key)
                .values(status=status, response=response)
            )

    async def release(self, caller: str, key: str) -> None:
        """Forget a reservation whose request failed, so the key may be used again."""
        async with self._db.transaction() as session:
            await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.caller == caller,
                    IdempotencyKeyRow.key == key,
                    IdempotencyKeyRow.status.is_(None),
                )
            )

    async def forget_expired(self, before: datetime) -> int:
        """Delete every answer remembered since before ``before``; returns how many."""
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)
