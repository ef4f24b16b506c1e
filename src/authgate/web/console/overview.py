"""The dashboard, the access checker and the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from authgate.audit.events import SECURITY_TAGS
from authgate.audit.log import AuditFilter, event_json
from authgate.errors import AuthGateError, InvalidInput
from authgate.rbac.admin import (
    AUDIT_READ,
    BINDINGS_READ,
    CLIENTS_READ,
    CLIENTS_WRITE,
    GROUPS_READ,
    ROLES_READ,
    USERS_READ,
    USERS_WRITE,
)
from authgate.rbac.index import Decision
from authgate.rbac.service import MAX_PAGE, ROOT, check_scope
from authgate.storage.models import AuditEventRow
from authgate.web.console.common import (
    Console,
    next_link,
    page_after,
    page_limit,
)
from authgate.web.console.session import enter

router = APIRouter(include_in_schema=False)
COUNT_CAP = 5000
RECENT = 20


async def _count(fetch: Callable[[str | None], Awaitable[Sequence[Any]]], key: str) -> str:
    """Counted page by page, up to :data:`COUNT_CAP` (then shown as "5000+")."""
    total, after = 0, None
    while total < COUNT_CAP:
        batch = await fetch(after)
        total += len(batch)
        if len(batch) < MAX_PAGE:
            return str(total)
        after = getattr(batch[-1], key)
    return f"{COUNT_CAP}+"


async def _counts(c: Console) -> list[tuple[str, str, str]]:
    """(label, count, link) for each kind of object the administrator may list at ``/``."""
    container = c.container
    counts = []
    if await c.holds(USERS_READ):
        n = await _count(lambda a: container.users.page(a, MAX_PAGE), "id")
        counts.append(("Users", n, "/console/users"))
    if await c.holds(CLIENTS_READ):
        n = await _count(lambda a: container.clients.page(a, MAX_PAGE), "client_id")
        counts.append(("Clients", n, "/console/clients"))
    if await c.holds(ROLES_READ):
        n = await _count(lambda a: container.access.list_roles(a, MAX_PAGE), "name")
        counts.append(("Roles", n, "/console/roles"))
    if await c.holds(GROUPS_READ):
        n = await _count(lambda a: container.access.list_groups(a, MAX_PAGE), "name")
        counts.append(("Groups", n, "/console/groups"))
    if await c.holds(BINDINGS_READ):
        n = await _count(lambda a: container.access.list_bindings(a, MAX_PAGE), "id")
        counts.append(("Bindings", n, "/console/bindings"))
    return counts


async def _who(c: Console, events: Sequence[AuditEventRow]) -> dict[str, str]:
    """``user:<id>`` → ``user:<id> (username)`` for the actors and subjects shown."""
    names: dict[str, str] = {}
    for event in events:
        for member in (event.actor, event.subject):
            if member and member.startswith("user:") and member not in names:
                user = await c.container.users.get_by_id(member[5:])
                names[member] = user.username if user else ""
    return {k: v for k, v in names.items() if v}


@router.get("/console")
async def dashboard(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    events = None
    if await c.holds(AUDIT_READ):
        security = AuditFilter(tags=tuple(str(tag) for tag in SECURITY_TAGS))
        events = await c.container.audit.older(security, limit=RECENT)
    names = await _who(c, events or [])
    return c.render("dashboard.html", counts=await _counts(c), events=events, names=names)


# -- access checker ---------------------------------------------------------------------


@router.get("/console/check")
async def checker(request: Request) -> Response:
    """ "May user X do Y on Z?": the engine's decision and its reason. Needs
    ``bindings.read`` at the resource path, and ``users.read`` (``clients.read``) where
    the subject lives; the reason names the binding that matched where it may be read."""
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    query = request.query_params
    subject = query.get("subject", "")[:300].strip()
    permission = query.get("permission", "")[:200].strip()
    resource = query.get("resource", "")[:1000].strip() or ROOT
    decision: Decision | None = None
    if subject and permission:
        try:
            path = check_scope(resource)
            await c.require(BINDINGS_READ, path)
        except AuthGateError as exc:
            return _checker_page(c, subject, permission, resource, None, exc.status, exc.message)
        kind, sep, ident = subject.partition(":")
        if not sep:
            kind, ident = "user", subject
        decision = await _decide(c, kind, ident, permission, path)
    elif not await c.holds(BINDINGS_READ):
        return c.render("forbidden.html", 403)
    return _checker_page(c, subject, permission, resource, decision)


async def _subject_scope(c: Console, kind: str, ident: str) -> str | None:
    """Where the subject lives, or None when there is no such user or client."""
    if kind == "user":
        user = await c.container.users.get_by_id(ident[:255])
        if user is None:
            try:
                user = await c.container.users.get(ident)
            except AuthGateError:
                return None
        return user.scope
    if kind == "client":
        client = await c.container.clients.get(ident[:255])
        return None if client is None else client.scope
    return None


async def _decide(c: Console, kind: str, ident: str, permission: str, path: str) -> Decision:
    """The engine's decision, told only as far as the administrator may see: a subject
    they may not read is answered as unknown (its existence is not disclosed), and a
    binding on a scope where they may not read bindings is not named."""
    where = await _subject_scope(c, kind, ident)
    may = (USERS_READ, USERS_WRITE) if kind == "user" else (CLIENTS_READ, CLIENTS_WRITE)
    if where is None or not any([await c.holds(p, where) for p in may]):
        return Decision(False, f"denied: no {kind} {ident!r} that you may see")
    decision = await c.container.engine.check(kind, ident, permission, path)
    grant = decision.grant
    if grant is not None and not await c.holds(BINDINGS_READ, grant.scope):
        return Decision(decision.allowed, "allowed by a binding on a scope you may not read")
    return decision


def _checker_page(
    c: Console,
    subject: str,
    permission: str,
    resource: str,
    decision: Decision | None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return c.render(
        "check.html",
        status,
        error=error,
        subject=subject,
        permission=permission,
        resource=resource,
        decision=decision,
    )


# -- audit log --------------------------------------------------------------------------


def _audit_filter(request: Request) -> tuple[AuditFilter, dict[str, str]]:
    """The filters asked for; ``scope`` (checked) keeps events at or below it."""
    query = request.query_params
    given = {k: query.get(k, "")[:200].strip() for k in ("tag", "actor", "subject")}
    given["scope"] = query.get("scope", "")[:1000].strip()
    where = AuditFilter(
        actor=given["actor"] or None,
        subject=given["subject"] or None,
        tags=(given["tag"],) if given["tag"] else (),
        scope=check_scope(given["scope"]) if given["scope"] else ROOT,
    )
    return where, given


async def _may_read(c: Console, request: Request) -> tuple[AuditFilter, dict[str, str]] | Response:
    """``authgate:audit.read`` at the scope asked about (``/`` when none is): an
    ``org:acme`` auditor reads the events of what lives under ``org:acme``."""
    try:
        where, given = _audit_filter(request)
    except AuthGateError as exc:
        return c.render("trouble.html", exc.status, message=exc.message)
    if not await c.holds(AUDIT_READ, where.scope or ROOT):
        return c.render("forbidden.html", 403)
    return where, given


async def _older(
    c: Console, where: AuditFilter, before: int | None, limit: int
) -> list[AuditEventRow]:
    """Up to ``limit`` matching events older than event ``before``, newest first."""
    return await c.container.audit.older(where, before=before, limit=limit)


def _before(request: Request) -> int | None:
    key = page_after(request)
    if key is None:
        return None
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        raise InvalidInput("cursor is not one this page gave out: follow its Next page link")
    return int(key)


@router.get("/console/audit")
async def audit_log(request: Request) -> Response:
    """Newest first, a page at a time; "Next page" goes on to older events."""
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    allowed = await _may_read(c, request)
    if isinstance(allowed, Response):
        return allowed
    where, given = allowed
    export = "/console/audit/export"
    if any(given.values()):
        export += "?" + urlencode({k: v for k, v in given.items() if v})
    events: list[AuditEventRow] = []
    next_url, status, error = None, 200, None
    try:
        limit = page_limit(request)
        events = await _older(c, where, _before(request), limit + 1)
    except AuthGateError as exc:
        status, error = exc.status, exc.message
    else:
        if len(events) > limit:
            events = events[:limit]
            next_url = next_link(request, "/console/audit", str(events[-1].id))
    return c.render(
        "audit.html",
        status,
        error=error,
        events=events,
        names=await _who(c, events),
        given=given,
        export=export,
        next_url=next_url,
    )


@router.get("/console/audit/export")
async def audit_export(request: Request) -> Response:
    """Every matching event as JSON lines, oldest first (as the admin API exports them)."""
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    allowed = await _may_read(c, request)
    if isinstance(allowed, Response):
        return allowed
    where, _ = allowed

    async def lines() -> AsyncIterator[bytes]:
        async for row in c.container.audit.export(where):
            yield json.dumps(event_json(row), separators=(",", ":")).encode() + b"\n"

    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="audit-events.jsonl"',
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)
