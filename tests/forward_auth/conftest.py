"""The forward-auth world: the conformance world (APIs, clients, the in-process app) on a
container whose ``[forward_auth]`` table holds the orders API's rules. The conformance
fixtures are imported by name, hence the file-wide noqa."""

# ruff: noqa: F401, F811

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.storage.models import ApiKeyRow, ForwardAuthRouteRow
from tests.conformance.conftest import (
    BILLING,
    ORDERS,
    Registered,
    _model_changes_seen_at_once,
    _one_rsa_key_per_run,
    apis,
    client_credentials,
    http,
    service,
)
from tests.conftest import empty_database, make_settings

FORWARD_AUTH = "/forward-auth"
HOST = "api.example.com"
ROUTES: list[dict[str, Any]] = [
    {"path": "/health", "public": True},
    {
        "host": HOST,
        "methods": ["GET", "HEAD"],
        "path": "/orders",
        "permission": "orders:read",
        "audience": ORDERS,
    },
    {"host": HOST, "methods": ["POST"], "path": "/orders", "permission": "orders:write"},
    {
        "methods": ["GET"],
        "path": "/orders/{order_id}",
        "permission": "orders:read",
        "audience": ORDERS,
        "resource": "order:{order_id}",
    },
    {"methods": ["DELETE"], "path": "/orders/{order_id}", "permission": "orders:delete"},
    {"path": "/invoices", "permission": "invoices:read"},
]
CACHE_TTL = "60s"


@pytest.fixture
async def container(
    database_url: str, data_dir: Path, clock: FrozenClock
) -> AsyncIterator[Container]:
    settings = make_settings(
        data_dir,
        database_url,
        rate_limits={"enabled": False},
        forward_auth={"routes": ROUTES, "cache_ttl": CACHE_TTL},
    )
    built = Container.build(settings, clock=clock, create_master_key=True)
    await empty_database(built.db)
    async with built.db.transaction() as session:
        await session.execute(delete(ForwardAuthRouteRow))
        await session.execute(delete(ApiKeyRow))
    await built.keys.ensure_initial(CLI)
    yield built
    await built.close()


def proxied(
    uri: str, method: str = "GET", host: str | None = HOST, **headers: str
) -> dict[str, str]:
    """A Caddy/Traefik-style sub-request describing ``method uri`` on ``host``."""
    sent = {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, **headers}
    if host is not None:
        sent["X-Forwarded-Host"] = host
    return sent


async def ask(
    http: httpx.AsyncClient,
    uri: str,
    credential: str | None = None,
    *,
    method: str = "GET",
    host: str | None = HOST,
    api_key: bool = False,
    extra: Mapping[str, str] | None = None,
) -> httpx.Response:
    headers = proxied(uri, method, host, **(extra or {}))
    if credential is not None:
        if api_key:
            headers["X-API-Key"] = credential
        else:
            headers["Authorization"] = f"Bearer {credential}"
    return await http.get(FORWARD_AUTH, headers=headers)


async def token_for(
    http: httpx.AsyncClient, client: Registered, audience: str = ORDERS, scope: str | None = None
) -> str:
    form = {"resource": audience}
    if scope is not None:
        form["scope"] = scope
    return str((await client_credentials(http, client, **form))["access_token"])


@pytest.fixture
async def orders_token(http: httpx.AsyncClient, service: Registered) -> str:
    """The service client's token for the orders API: scope orders:read."""
    return await token_for(http, service)


__all__ = ["BILLING", "ORDERS", "ask", "proxied", "token_for"]
