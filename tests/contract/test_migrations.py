"""The Alembic migrations and the models describe the same schema (both databases)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from authgate.errors import SchemaOutOfDate
from authgate.storage import migrate
from authgate.storage.db import Database
from authgate.storage.models import Base


async def test_models_match_migrations(database_url: str) -> None:
    db = Database(database_url)

    def diff(conn: Connection) -> list[object]:
        return list(
            compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        )

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await db.dispose()
    assert differences == [], f"models and migrations disagree; write a migration: {differences}"


async def test_schema_is_at_head(database_url: str) -> None:
    db = Database(database_url)
    assert await migrate.current_revision(db) == migrate.head_revision()
    await migrate.require_current(db)
    await db.dispose()


async def test_empty_database_is_refused_with_what_to_run(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        await migrate.require_current(db)
    except SchemaOutOfDate as exc:
        assert "authgate init" in exc.message
    else:
        raise AssertionError("an empty database must be refused")
    finally:
        await db.dispose()
