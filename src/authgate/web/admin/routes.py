"""Admin REST API routes; every module of this package adds its endpoints here."""

from __future__ import annotations

from fastapi import APIRouter

from authgate.web.admin import bindings, groups, roles, users
from authgate.web.admin.conventions import PREFIX

router = APIRouter(prefix=PREFIX)
for module in (roles, groups, bindings, users):
    router.include_router(module.router)
