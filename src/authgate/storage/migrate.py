"""Alembic, driven from code: ``authgate init``/``migrate`` upgrade; ``serve`` checks."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from authgate.errors import SchemaOutOfDate
from authgate.storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _safe_known(revision: str) -> bool:
    try:
        return _known(revision)
    except Exception:  # alembic raises several types for an unknown revision
        return False


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(db: Database) -> str | None:
    def read(conn: Connection) -> str | None:
        revision = MigrationContext.configure(conn).get_current_revision()
        return None if revision is None else str(revision)

    async with db.connect() as conn:
        return await conn.run_sync(read)


def _known(revision: str) -> bool:
    return ScriptDirectory.from_config(_config()).get_revision(revision) is not None


def _newer_than_code(revision: str) -> SchemaOutOfDate:
    return SchemaOutOfDate(
        f"the database schema is at revision {revision}, which this AuthGate does not know: "
        "a newer AuthGate migrated it; run that version (or a newer one)"
    )


async def upgrade(db: Database) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after)."""
    before = await current_revision(db)
    if before is not None and not _safe_known(before):
        raise _newer_than_code(before)

    def run(conn: Connection) -> None:
        command.upgrade(_config(conn), "head")

    async with db.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()
    return before, head_revision()


async def require_current(db: Database) -> None:
    """Refuse to run on a database the code does not match."""
    current = await current_revision(db)
    head = head_revision()
    if current is None:
        raise SchemaOutOfDate(
            "the database has no AuthGate schema yet: run `authgate init` (or `authgate migrate`)"
        )
    if not _safe_known(current):
        raise _newer_than_code(current)
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current}, this AuthGate needs {head}: "
            "run `authgate migrate`"
        )
