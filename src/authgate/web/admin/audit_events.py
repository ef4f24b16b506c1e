"""``/admin/v1/audit-events``: the audit log, filtered by time, actor, subject, tags and
scope; as pages by event id, or streamed as JSON lines. Needs ``authgate:audit.read`` at
the ``scope`` asked for (``/`` without one), so an auditor bound at ``org:acme`` reads the
events about objects administered there and below. Read only: the log is changed by
nothing but the events it records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response, StreamingResponse

from authgate.audit.log import AuditFilter, event_json, parse_instant
from authgate.errors import InvalidInput
from authgate.rbac.admin import AUDIT_READ
from authgate.rbac.service import MAX_SCOPE
from authgate.storage.models import AuditEventRow
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
    MAX_KEY,
    NO_STORE,
    PREFIX,
    AdminCaller,
    AdminRoute,
    Cursor,
    Limit,
    no_controls,
    paged,
)
from authgate.web.admin.users import list_scope

router = APIRouter(route_class=AdminRoute, tags=["audit-events"])
MAX_TAGS = 50
MAX_TAG = 64  # the longest tag the log stores
NDJSON = "application/x-ndjson"

Since = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="RFC 3339 date-time: events at or after it"),
]
Until = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="RFC 3339 date-time: events before it"),
]
Actor = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_KEY, description="cli, user:<id> or client:<id>"),
]
Subject = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_KEY, description="e.g. user:<id>, role:<name>"),
]
#: Tags are namespaced: ``role:created``, ``account:login:failure`` (docs/events.md).
Tag = Annotated[str, StringConstraints(max_length=MAX_TAG, pattern=r"^[a-z0-9-]+(:[a-z0-9-]+)+$")]
Tags = Annotated[
    list[Tag],
    Query(max_length=MAX_TAGS, description="any of these tags (repeat the parameter)"),
]
Scope = Annotated[
    str | None,
    Query(
        max_length=MAX_SCOPE + 2,
        description=(
            "events about objects administered at this scope or below it (whole segments: "
            "org:acme reaches org:acme/team:a, not org:acme-two); needs authgate:audit.read "
            "there. Without it, or with /, every event, which needs authgate:audit.read at /"
        ),
    ),
]


def _filter(
    since: str | None,
    until: str | None,
    actor: str | None,
    subject: str | None,
    tag: list[str] | None,
    scope: str | None,
) -> AuditFilter:
    for name, value in (("actor", actor), ("subject", subject)):
        if value is not None:
            try:
                no_controls(value)
            except ValueError as exc:
                raise InvalidInput(f"{name}: {exc}") from None
    return AuditFilter(
        since=None if since is None else parse_instant(since, "since"),
        until=None if until is None else parse_instant(until, "until"),
        actor=actor,
        subject=subject,
        tags=tuple(dict.fromkeys(tag or [])),
        scope=scope,
    )


def _event_id(key: str | None) -> int | None:
    if key is None:
        return None
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        raise InvalidInput("cursor is not one this API gave out: follow the next link of a page")
    return int(key)


@router.get("/audit-events", summary="Audit events by id, filtered")
async def list_audit_events(
    request: Request,
    admin: AdminCaller,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    subject: Subject = None,
    tag: Tags = [],  # noqa: B006 (FastAPI copies defaults)
    scope: Scope = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Each event carries ``scope``: where its object is administered (``null`` for
    events written before scopes were recorded)."""
    path = await list_scope(admin, AUDIT_READ, scope)
    where = _filter(since, until, actor, subject, tag, path)

    async def fetch(after: str | None, count: int) -> list[AuditEventRow]:
        return await admin.container.audit.query(where, after=_event_id(after), limit=count)

    return await paged(
        request,
        f"{PREFIX}/audit-events",
        fetch,
        lambda row: str(row.id),
        event_json,
        limit,
        cursor,
    )


@router.get(
    "/audit-events/export",
    summary="Every matching audit event as JSON lines",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}},
)
async def export_audit_events(
    admin: AdminCaller,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    subject: Subject = None,
    tag: Tags = [],  # noqa: B006 (FastAPI copies defaults)
    scope: Scope = None,
) -> Response:
    """One JSON object per line (``application/x-ndjson``), oldest first, the same
    objects as the pages hold; ``scope`` narrows and authorizes as on the pages."""
    path = await list_scope(admin, AUDIT_READ, scope)
    where = _filter(since, until, actor, subject, tag, path)

    async def lines() -> AsyncIterator[bytes]:
        async for row in admin.container.audit.export(where):
            yield json.dumps(event_json(row), sort_keys=True).encode() + b"\n"

    return StreamingResponse(lines(), headers=dict(NO_STORE), media_type=NDJSON)
