"""Forward-auth rules managed through the admin API, stored in ``forward_auth_routes``.

Every write bumps the ``access`` change counter in its transaction, so every server (this
one at once, the others within a poll) reloads its rule table and drops its decisions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import InvalidInput, NotFound
from authgate.forwardauth.routes import RouteRule, rule
from authgate.storage.changes import ACCESS_COUNTER
from authgate.storage.db import Database
from authgate.storage.models import ForwardAuthRouteRow
from authgate.storage.repositories import ChangeCounterRepository

MAX_ROUTES = 10_000


@dataclass(frozen=True, slots=True)
class StoredRoute:
    """A rule as the admin API shows it."""

    id: str
    position: int
    host: str | None
    methods: tuple[str, ...]
    path: str
    permission: str | None
    public: bool
    audience: str | None
    resource: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: ForwardAuthRouteRow) -> StoredRoute:
        return cls(
            row.id,
            row.position,
            row.host,
            tuple(row.methods),
            row.path,
            row.permission,
            row.public,
            row.audience,
            row.resource,
            row.created_at,
        )

    @property
    def key(self) -> str:
        """The position-then-id order as one string (a page cursor)."""
        return f"{self.position:012d}.{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "host": self.host,
            "methods": list(self.methods) or None,
            "path": self.path,
            "permission": self.permission,
            "public": self.public,
            "audience": self.audience,
            "resource": self.resource,
            "created_at": self.created_at.isoformat(),
        }

    def compiled(self) -> RouteRule:
        return rule(
            self.path,
            permission=self.permission,
            public=self.public,
            host=self.host,
            methods=self.methods or None,
            audience=self.audience,
            resource=self.resource,
            id=self.id,
        )


@dataclass(frozen=True, slots=True)
class RouteFields:
    """What a caller writes; validated by :func:`authgate.forwardauth.routes.rule`."""

    path: str
    permission: str | None = None
    public: bool = False
    host: str | None = None
    methods: tuple[str, ...] | None = None
    audience: str | None = None
    resource: str | None = None

    def check(self) -> RouteRule:
        return rule(
            self.path,
            permission=self.permission,
            public=self.public,
            host=self.host,
            methods=self.methods,
            audience=self.audience,
            resource=self.resource,
        )


class RouteStore:
    def __init__(
        self, db: Database, clock: Clock, on_change: Callable[[], None], audit: AuditLog
    ) -> None:
        self._db = db
        self._clock = clock
        self._on_change = on_change
        self._audit = audit

    async def all(self) -> list[StoredRoute]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ForwardAuthRouteRow).order_by(
                    ForwardAuthRouteRow.position, ForwardAuthRouteRow.id
                )
            )
            return [StoredRoute.from_row(row) for row in rows]

    async def page(self, after: str | None, limit: int) -> list[StoredRoute]:
        """Rules after the cursor key ``after`` (see :attr:`StoredRoute.key`)."""
        query = select(ForwardAuthRouteRow)
        if after is not None:
            position_text, _, route_id = after.partition(".")
            position = int(position_text) if position_text.isdigit() else -1
            query = query.where(
                or_(
                    ForwardAuthRouteRow.position > position,
                    (ForwardAuthRouteRow.position == position)
                    & (ForwardAuthRouteRow.id > route_id),
                )
            )
        query = query.order_by(ForwardAuthRouteRow.position, ForwardAuthRouteRow.id).limit(limit)
        async with self._db.transaction() as session:
            return [StoredRoute.from_row(row) for row in await session.scalars(query)]

    async def get(self, route_id: str) -> StoredRoute:
        async with self._db.transaction() as session:
            row = await session.get(ForwardAuthRouteRow, route_id)
            if row is None:
                raise NotFound(f"no forward-auth route {route_id!r}")
            return StoredRoute.from_row(row)

    async def create(
        self, ctx: AuditContext, fields: RouteFields, position: int | None
    ) -> StoredRoute:
        fields.check()
        async with self._db.transaction() as session:
            count = await session.scalar(select(func.count(ForwardAuthRouteRow.id)))
            if (count or 0) >= MAX_ROUTES:
                raise InvalidInput(f"at most {MAX_ROUTES} forward-auth routes")
            if position is None:
                highest = await session.scalar(select(func.max(ForwardAuthRouteRow.position)))
                position = 0 if highest is None else highest + 1
            row = ForwardAuthRouteRow(id="far_" + secrets.token_hex(8), position=position)
            _write(row, fields)
            row.created_at = self._clock.now()
            session.add(row)
            await session.flush()
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            stored = StoredRoute.from_row(row)
            await self._audit.append(
                session,
                AuditTag.ROUTE_CREATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"route:{row.id}",
                details=stored.to_json(),
            )
        self._on_change()
        return stored

    async def update(
        self,
        ctx: AuditContext,
        route_id: str,
        fields: RouteFields,
        position: int,
        expect: Callable[[StoredRoute], None] | None = None,
    ) -> StoredRoute:
        """``expect`` sees the route as stored, under a row lock, before it changes (an
        ``If-Match`` check: RFC 9110 §13.1.1), and may refuse by raising."""
        fields.check()
        async with self._db.transaction() as session:
            row = await session.get(ForwardAuthRouteRow, route_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no forward-auth route {route_id!r}")
            if expect is not None:
                expect(StoredRoute.from_row(row))
            _write(row, fields)
            row.position = position
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            stored = StoredRoute.from_row(row)
            await self._audit.append(
                session,
                AuditTag.ROUTE_UPDATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"route:{row.id}",
                details=stored.to_json(),
            )
        self._on_change()
        return stored

    async def delete(self, ctx: AuditContext, route_id: str) -> None:
        async with self._db.transaction() as session:
            row = await session.get(ForwardAuthRouteRow, route_id)
            if row is None:
                raise NotFound(f"no forward-auth route {route_id!r}")
            await session.delete(row)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.ROUTE_DELETED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"route:{route_id}",
                details={"path": row.path},
            )
        self._on_change()


def _write(row: ForwardAuthRouteRow, fields: RouteFields) -> None:
    row.host = fields.host
    row.methods = sorted({m.upper() for m in fields.methods}) if fields.methods else []
    row.path = fields.path
    row.permission = fields.permission
    row.public = fields.public
    row.audience = fields.audience
    row.resource = fields.resource


def compiled(routes: Sequence[StoredRoute]) -> list[RouteRule]:
    return [route.compiled() for route in routes]
