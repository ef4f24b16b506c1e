"""Protected APIs (resource servers): an audience, a name, the permissions it understands.

An API's permissions are the OAuth scopes a client may request for it (spec §1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import select

from authgate.apis.models import JWT, TOKEN_FORMATS, Api
from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.permissions import check_permission
from authgate.rbac.service import ACCESS_COUNTER
from authgate.storage.db import Database
from authgate.storage.models import ApiRow
from authgate.storage.repositories import ApiRepository, ChangeCounterRepository

MAX_AUDIENCE = 500
MAX_NAME = 200
MAX_PERMISSIONS = 1000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*\Z")
_URI_CHARS = re.compile(r"^[\x21-\x7e]+\Z")


def check_audience(audience: str) -> str:
    """An absolute URI without a fragment (RFC 8707 §2), e.g. ``https://orders.example.com``."""
    if not _URI_CHARS.match(audience) or len(audience) > MAX_AUDIENCE:
        raise InvalidInput(
            f"audience {audience!r} must be an absolute URI of at most {MAX_AUDIENCE} "
            "printable ASCII characters, such as https://orders.example.com"
        )
    try:
        parts = urlsplit(audience)
    except ValueError:
        parts = None
    if parts is None or not _SCHEME.match(parts.scheme) or not (parts.netloc or parts.path):
        raise InvalidInput(
            f"audience {audience!r} is not an absolute URI, such as https://orders.example.com"
        )
    if parts.scheme in {"http", "https"} and not parts.hostname:
        raise InvalidInput(f"audience {audience!r} has no host")
    if parts.fragment or audience.endswith("#"):
        raise InvalidInput(f"audience {audience!r} must not have a fragment (RFC 8707 §2)")
    return audience


def check_name(name: str, what: str) -> str:
    text = name.strip()
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise InvalidInput(f"the {what} name must be 1-{MAX_NAME} printable characters")
    return text


class ApiService:
    def __init__(
        self, db: Database, audit: AuditLog, clock: Clock, *, builtin: str | None = None
    ) -> None:
        """``builtin`` is the audience of AuthGate's own API, which exists unregistered:
        registering it would name two APIs one audience."""
        self._db = db
        self._audit = audit
        self._clock = clock
        self._builtin = builtin

    async def create(
        self,
        ctx: AuditContext,
        *,
        audience: str,
        name: str,
        permissions: Sequence[str] = (),
        token_format: str = JWT,
    ) -> Api:
        if token_format not in TOKEN_FORMATS:
            raise InvalidInput(f"token format {token_format!r} must be one of: jwt, opaque")
        if isinstance(permissions, str):
            permissions = permissions.split()
        if len(permissions) > MAX_PERMISSIONS:
            raise InvalidInput(f"an API declares at most {MAX_PERMISSIONS} permissions")
        row = ApiRow(
            audience=check_audience(audience),
            name=check_name(name, "API"),
            permissions=list(dict.fromkeys(check_permission(p) for p in permissions)),
            token_format=token_format,
            created_at=self._clock.now(),
        )
        if row.audience == self._builtin:
            raise Conflict(f"{row.audience!r} is AuthGate's own API; it needs no registration")
        async with self._db.transaction() as session:
            apis = ApiRepository(session)
            if await apis.get(row.audience) is not None:
                raise Conflict(f"an API with audience {row.audience!r} already exists")
            await apis.add(row)
            # Token scopes are worked out from the APIs: caches of the model must refresh.
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.API_CREATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"api:{row.audience}",
                details={"name": row.name, "permissions": list(row.permissions)},
            )
        return Api.from_row(row)

    async def update(
        self,
        ctx: AuditContext,
        audience: str,
        *,
        name: str | None = None,
        permissions: Sequence[str] | None = None,
        expect: Callable[[Api], None] | None = None,
    ) -> Api:
        """Change the name or the permission list (the audience is the API's identity;
        the token format is fixed once tokens are out). Absent values stay. ``expect``
        sees the API as stored, under a row lock, before anything changes (``If-Match``)."""
        if permissions is not None and len(permissions) > MAX_PERMISSIONS:
            raise InvalidInput(f"an API declares at most {MAX_PERMISSIONS} permissions")
        new_name = None if name is None else check_name(name, "API")
        new_permissions = (
            None
            if permissions is None
            else list(dict.fromkeys(check_permission(p) for p in permissions))
        )
        async with self._db.transaction() as session:
            row = await ApiRepository(session).get(audience, lock=True)
            if row is None:
                raise NotFound(f"no API with audience {audience!r}")
            if expect is not None:
                expect(Api.from_row(row))
            changed: dict[str, object] = {}
            if new_name is not None and new_name != row.name:
                row.name = changed["name"] = new_name
            if new_permissions is not None and new_permissions != list(row.permissions):
                row.permissions = new_permissions
                changed["permissions"] = list(new_permissions)
            if changed:
                await session.flush()
                await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
                await self._audit.append(
                    session,
                    AuditTag.API_UPDATED,
                    ctx,
                    scope=GLOBAL_SCOPE,
                    subject=f"api:{audience}",
                    details=changed,
                )
            return Api.from_row(row)

    async def page(self, after: str | None, limit: int) -> list[Api]:
        """APIs by audience, the ones after ``after`` (a keyset page)."""
        query = select(ApiRow).order_by(ApiRow.audience).limit(limit)
        if after is not None:
            query = query.where(ApiRow.audience > after)
        async with self._db.transaction() as session:
            return [Api.from_row(r) for r in (await session.execute(query)).scalars()]

    async def get(self, audience: str) -> Api | None:
        if not _URI_CHARS.match(audience) or len(audience) > MAX_AUDIENCE:
            return None
        async with self._db.transaction() as session:
            row = await ApiRepository(session).get(audience)
        return Api.from_row(row) if row else None

    async def list(self) -> list[Api]:
        async with self._db.transaction() as session:
            return [Api.from_row(r) for r in await ApiRepository(session).list()]
