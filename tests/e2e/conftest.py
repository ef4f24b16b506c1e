"""End-to-end fixtures: a data directory on either database, initialised by the real CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    create_postgres_database,
    drop_postgres_database,
)


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment for the CLI and server: {} for SQLite, a fresh database for PostgreSQL."""
    if request.param == "sqlite":
        yield {}
        return
    assert POSTGRES_URL
    url = asyncio.run(create_postgres_database(POSTGRES_URL))
    yield {"AUTHGATE_DATABASE_URL": url}
    asyncio.run(drop_postgres_database(POSTGRES_URL, url))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
