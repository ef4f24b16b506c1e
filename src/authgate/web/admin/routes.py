"""Admin REST API routes; every module of this package adds its endpoints here."""

from __future__ import annotations

from fastapi import APIRouter

from authgate.web.admin import api_keys, bindings, forward_auth_routes, groups, roles, users
from authgate.web.admin.conventions import PREFIX

router = APIRouter(prefix=PREFIX)
for module in (roles, groups, bindings, users, api_keys, forward_auth_routes):
    router.include_router(module.router)
