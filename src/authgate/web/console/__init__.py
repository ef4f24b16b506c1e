"""The web console at ``/console``: server-rendered administration pages that call the
same services as the CLI and the admin API, authorized by AuthGate's own engine."""

from __future__ import annotations

from fastapi import APIRouter

from authgate.web.console import (
    access,
    apis,
    clients,
    groups,
    keys,
    overview,
    people,
    routes,
    session,
)

router = APIRouter(include_in_schema=False)
for _module in (session, overview, people, groups, access, clients, apis, keys, routes):
    router.include_router(_module.router)
