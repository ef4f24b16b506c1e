"""Protected APIs (resource servers): an audience, a name, the permissions it understands.

An API's permissions are the OAuth scopes a client may request for it (spec §1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from authgate.apis.models import JWT, TOKEN_FORMATS, Api
from authgate.audit.events import AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import Conflict, InvalidInput
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
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

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
                subject=f"api:{row.audience}",
                details={"name": row.name, "permissions": list(row.permissions)},
            )
        return Api.from_row(row)

    async def get(self, audience: str) -> Api | None:
        if not _URI_CHARS.match(audience) or len(audience) > MAX_AUDIENCE:
            return None
        async with self._db.transaction() as session:
            row = await ApiRepository(session).get(audience)
        return Api.from_row(row) if row else None

    async def list(self) -> list[Api]:
        async with self._db.transaction() as session:
            return [Api.from_row(r) for r in await ApiRepository(session).list()]
