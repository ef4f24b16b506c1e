"""Admin REST API routes; every module of this package adds its endpoints here. The
rendered reference (``/docs``) sits beside them, outside the prefix."""

from __future__ import annotations

from fastapi import APIRouter

from authgate.web.admin import (
    api_keys,
    apis,
    audit_events,
    bindings,
    clients,
    forward_auth_routes,
    groups,
    reference,
    roles,
    signing_keys,
    users,
)
from authgate.web.admin.conventions import PREFIX

admin = APIRouter(prefix=PREFIX)
for module in (
    roles,
    groups,
    bindings,
    users,
    clients,
    api_keys,
    forward_auth_routes,
    apis,
    signing_keys,
    audit_events,
):
    admin.include_router(module.router)
router = APIRouter()
router.include_router(admin)
router.include_router(reference.router)
