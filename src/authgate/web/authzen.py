"""The OpenID AuthZEN Authorization API 1.0 (decision endpoints and metadata)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
