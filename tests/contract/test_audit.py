"""The audit hash chain finds modified, deleted and truncated events (both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.container import Container
from authgate.errors import Conflict
from authgate.storage.models import AuditEventRow, AuditHeadRow


async def _events(container: Container) -> list[AuditEventRow]:
    async with container.db.transaction() as session:
        return list(
            (await session.execute(select(AuditEventRow).order_by(AuditEventRow.id))).scalars()
        )


async def test_events_are_recorded_with_context(container: Container) -> None:
    await container.users.create("alice", CLI)
    events = await _events(container)
    assert [e.tag for e in events][-1] == AuditTag.USER_CREATED
    assert events[-1].actor == "cli"
    assert events[-1].subject is not None and events[-1].subject.startswith("user:")
    result = await container.audit.verify()
    assert result.ok, result.problems
    assert result.events == len(events)


async def test_modified_row_is_named(container: Container) -> None:
    for name in ("a1", "a2", "a3"):
        await container.users.create(name, CLI)
    target = (await _events(container))[-2]
    async with container.db.transaction() as session:
        await session.execute(
            update(AuditEventRow).where(AuditEventRow.id == target.id).values(actor="someone-else")
        )
    result = await container.audit.verify()
    assert not result.ok
    assert any(f"event #{target.id}" in p and "modified" in p for p in result.problems)


async def test_deleted_middle_row_is_found(container: Container) -> None:
    for name in ("b1", "b2", "b3"):
        await container.users.create(name, CLI)
    events = await _events(container)
    victim, after = events[-2], events[-1]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == victim.id))
    result = await container.audit.verify()
    assert not result.ok
    assert any(f"event #{after.id}" in p and "deleted" in p for p in result.problems)


async def test_deleted_tail_is_found(container: Container) -> None:
    for name in ("c1", "c2"):
        await container.users.create(name, CLI)
    last = (await _events(container))[-1]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == last.id))
    result = await container.audit.verify()
    assert not result.ok
    assert any("at the end were deleted" in p for p in result.problems)


async def test_failed_write_leaves_no_event(container: Container) -> None:
    await container.users.create("dup", CLI)
    before = len(await _events(container))
    with pytest.raises(Conflict):
        await container.users.create("DUP", CLI)
    assert len(await _events(container)) == before
    assert (await container.audit.verify()).ok


async def test_rewound_chain_head_is_found(container: Container) -> None:
    """Deleting the newest events and pointing the head at the new last event (whose
    hash is in the table) is caught: the head carries a MAC only the key can make."""
    for name in ("d1", "d2", "d3"):
        await container.users.create(name, CLI)
    events = await _events(container)
    keep = events[-2]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == events[-1].id))
        await session.execute(update(AuditHeadRow).values(last_id=keep.id, last_hash=keep.hash))
    result = await container.audit.verify()
    assert not result.ok
    assert any("chain head was altered" in p for p in result.problems)
