"""Admin REST API routes; every module of this package adds its endpoints here."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/v1")
