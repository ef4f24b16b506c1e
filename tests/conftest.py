"""Shared fixtures: a migrated database per backend, a container on it, fast hashing.

PostgreSQL tests run when ``AUTHGATE_TEST_POSTGRES_URL`` names a reachable server (CI sets
it); Redis tests when ``AUTHGATE_TEST_REDIS_URL`` does. Otherwise they skip, saying why.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, text, update

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.settings import Settings, load_settings
from authgate.storage import migrate
from authgate.storage.db import Database
from authgate.storage.models import (
    AccessTokenRow,
    ApiKeyRow,
    ApiRow,
    AuditEventRow,
    AuditHeadRow,
    AuthorizationCodeRow,
    BindingRow,
    ClientRow,
    ConsentRow,
    ForwardAuthRouteRow,
    GrantRow,
    GroupMemberRow,
    GroupRow,
    IdempotencyKeyRow,
    RecoveryCodeRow,
    RefreshTokenRow,
    RevocationEventRow,
    RevokedTokenRow,
    RoleParentRow,
    RoleRow,
    SessionRow,
    SigningKeyRow,
    UsedAssertionRow,
    UserRow,
)

POSTGRES_URL = os.environ.get("AUTHGATE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL")

# Cheap argon2 for tests; the production cost is measured in bench/, not here.
FAST_PASSWORDS = {"argon2_memory_kib": 1024, "argon2_time_cost": 1, "argon2_parallelism": 1}


def _reachable(url: str | None, default_port: int) -> str | None:
    """None when reachable, else why not."""
    if not url:
        return "not configured"
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return None
    except OSError as exc:
        return f"{parts.hostname}:{parts.port or default_port} unreachable ({exc})"


POSTGRES_SKIP = _reachable(POSTGRES_URL, 5432)
REDIS_SKIP = _reachable(REDIS_URL, 6379)


def pytest_configure(config: pytest.Config) -> None:
    """In CI (AUTHGATE_TEST_REQUIRE_SERVICES=1) a missing service fails the run instead of
    silently skipping half the suite."""
    if os.environ.get("AUTHGATE_TEST_REQUIRE_SERVICES") == "1":
        missing = [
            f"{name}: {why}"
            for name, why in (("PostgreSQL", POSTGRES_SKIP), ("Redis", REDIS_SKIP))
            if why is not None
        ]
        if missing:
            raise pytest.UsageError("required test services unavailable: " + "; ".join(missing))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "postgresql: "
        + (
            "enabled"
            if POSTGRES_SKIP is None
            else f"SKIPPED ({POSTGRES_SKIP}; set AUTHGATE_TEST_POSTGRES_URL)"
        ),
        "redis: "
        + (
            "enabled"
            if REDIS_SKIP is None
            else f"SKIPPED ({REDIS_SKIP}; set AUTHGATE_TEST_REDIS_URL)"
        ),
    ]


def make_settings(data_dir: Path, database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "passwords": FAST_PASSWORDS,
    }
    values.update(extra)
    return load_settings(**values)


async def create_postgres_database(base_url: str) -> str:
    """A fresh database on the server of ``base_url``; returns its URL."""
    name = f"authgate_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = Database(base_url)
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    parts = urlsplit(base_url)
    return parts._replace(path="/" + name).geturl()


async def drop_postgres_database(base_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = Database(base_url)
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                POSTGRES_SKIP is not None,
                reason=f"PostgreSQL {POSTGRES_SKIP}: set AUTHGATE_TEST_POSTGRES_URL",
            ),
        ],
    ),
]


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One migrated database per backend for the whole run; tests empty it (``clean_db``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'authgate.db'}"
        db = Database(url)
        await migrate.upgrade(db)
        await db.dispose()
        yield url
        return
    assert POSTGRES_URL
    url = await create_postgres_database(POSTGRES_URL)
    db = Database(url)
    await migrate.upgrade(db)
    await db.dispose()
    yield url
    await drop_postgres_database(POSTGRES_URL, url)


async def empty_database(db: Database) -> None:
    async with db.transaction() as session:
        for model in (
            IdempotencyKeyRow,
            ApiKeyRow,
            RevocationEventRow,
            ForwardAuthRouteRow,
            AccessTokenRow,
            RefreshTokenRow,
            AuthorizationCodeRow,
            GrantRow,
            ConsentRow,
            RevokedTokenRow,
            UsedAssertionRow,
            BindingRow,
            RoleParentRow,
            GroupMemberRow,
            GroupRow,
            RoleRow,
            ClientRow,
            ApiRow,
            RecoveryCodeRow,
            SessionRow,
            AuditEventRow,
            SigningKeyRow,
            UserRow,
        ):
            await session.execute(delete(model))
        await session.execute(update(AuditHeadRow).values(last_id=0, last_hash="0" * 64, mac=None))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def container(
    database_url: str, data_dir: Path, clock: FrozenClock
) -> AsyncIterator[Container]:
    """A container on an empty, migrated database, with signing keys and a frozen clock."""
    settings = make_settings(data_dir, database_url, rate_limits={"enabled": True})
    built = Container.build(settings, clock=clock, create_master_key=True)
    await empty_database(built.db)
    await built.keys.ensure_initial(CLI)
    yield built
    await built.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
