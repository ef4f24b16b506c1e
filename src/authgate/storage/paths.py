"""Filters on resource-path columns (scopes), the same on every database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_


def at_or_below(column: Any, scope: str) -> Any:
    """``column`` names ``scope`` or a path under it, by whole segments (``org:acme``
    reaches ``org:acme/team:a``, not ``org:acmecorp``) and case-sensitively, as the access
    engine compares scopes. ``LIKE`` is not used: SQLite's ignores ASCII case, which would
    let ``org:acme`` reach ``ORG:ACME/…``. Call with a checked scope other than ``/``."""
    prefix = scope + "/"
    return or_(column == scope, func.substr(column, 1, len(prefix)) == prefix)
