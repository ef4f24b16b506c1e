"""Making, listing and revoking API keys (spec §5). The CLI and the admin API call this.

A key is stored only as the keyed digest of the whole key, so the database alone cannot
be used to call anything. A key lists part of what its owner holds (never more: checked
here, and again at every use by :mod:`authgate.apikeys.authenticator`), or nothing, which
means "whatever the owner holds".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from authgate.apikeys import format as key_format
from authgate.apikeys.models import ApiKey, CreatedApiKey
from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.digests import Digester
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.engine import AccessEngine
from authgate.rbac.permissions import check_permission
from authgate.storage.apikey_repositories import ApiKeyRepository
from authgate.storage.db import Database
from authgate.storage.models import ApiKeyRow, ClientRow, UserRow
from authgate.storage.repositories import ClientRepository, RevocationLog, UserRepository
from authgate.tokens.callers import covers

MAX_LIFETIME = timedelta(days=3650)
MAX_NETWORKS = 32
MAX_PERMISSIONS = 100
MAX_LIVE_KEYS_PER_OWNER = 100
MAX_NAME = 200


def check_owner(owner: str) -> str:
    kind, sep, ident = owner.partition(":")
    if kind not in {"user", "client"} or not sep or not ident or len(owner) > 300:
        raise InvalidInput(f"the owner {owner!r} must be user:<id> or client:<client_id>")
    return owner


async def owner_scope(session: AsyncSession, owner: str) -> str:
    """Where the key's owner is administered (its events' scope); ``/`` once it is gone."""
    kind, _, ident = owner.partition(":")
    row: UserRow | ClientRow | None
    if kind == "user":
        row = await UserRepository(session).by_id(ident)
    else:
        row = await ClientRepository(session).get(ident)
    return row.scope if row is not None else GLOBAL_SCOPE


def check_networks(networks: Sequence[str]) -> list[str]:
    """CIDR blocks (``203.0.113.0/24``, ``2001:db8::/32``) or single addresses."""
    if len(networks) > MAX_NETWORKS:
        raise InvalidInput(f"an API key allows at most {MAX_NETWORKS} networks")
    found = []
    for text in networks:
        try:
            found.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise InvalidInput(
                f"{text!r} is not a network: use CIDR notation such as 203.0.113.0/24"
            ) from None
    return list(dict.fromkeys(found))


class ApiKeyService:
    def __init__(
        self,
        db: Database,
        digester: Digester,
        audit: AuditLog,
        clock: Clock,
        engine: AccessEngine,
    ) -> None:
        self._db = db
        self._digester = digester
        self._audit = audit
        self._clock = clock
        self._engine = engine
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, listener: Callable[[str], None]) -> None:
        """``listener(key_id)`` runs after a key was created or revoked in this process."""
        self._listeners.append(listener)

    async def create(
        self,
        ctx: AuditContext,
        owner: str,
        *,
        name: str = "",
        permissions: Sequence[str] = (),
        expires_in: timedelta | None = None,
        allowed_networks: Sequence[str] = (),
    ) -> CreatedApiKey:
        owner = check_owner(owner)
        label = name.strip() or "API key"
        if len(label) > MAX_NAME or not label.isprintable():
            raise InvalidInput(f"the key name must be 1-{MAX_NAME} printable characters")
        if len(permissions) > MAX_PERMISSIONS:
            raise InvalidInput(f"an API key lists at most {MAX_PERMISSIONS} permissions")
        wanted = list(dict.fromkeys(check_permission(p) for p in permissions))
        if expires_in is not None and not timedelta(0) < expires_in <= MAX_LIFETIME:
            raise InvalidInput("an API key's lifetime must be between 1s and 3650d")
        networks = check_networks(allowed_networks)
        if not await self._engine.active(owner):
            raise InvalidInput(f"the owner {owner} does not exist or is disabled")
        held = await self._engine.permissions_anywhere(owner)
        missing = [p for p in wanted if not covers(held, p)]
        if missing:
            raise InvalidInput(
                f"{owner} does not hold {', '.join(missing)}: an API key carries only "
                "permissions its owner holds"
            )
        now = self._clock.now()
        made = key_format.new_key()
        row = ApiKeyRow(
            id=made.key_id,
            digest=self._digester.digest(made.key),
            owner=owner,
            name=label,
            permissions=wanted,
            allowed_networks=networks,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            revoked_at=None,
            last_used_at=None,
        )
        async with self._db.transaction() as session:
            keys = ApiKeyRepository(session)
            if await keys.count_live(owner) >= MAX_LIVE_KEYS_PER_OWNER:
                raise InvalidInput(
                    f"{owner} already has {MAX_LIVE_KEYS_PER_OWNER} API keys; revoke one first"
                )
            await keys.add(row)
            await self._audit.append(
                session,
                AuditTag.APIKEY_CREATED,
                ctx,
                scope=await owner_scope(session, owner),
                subject=f"apikey:{row.id}",
                details={
                    "owner": owner,
                    "name": label,
                    "permissions": wanted,
                    "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                    "allowed_networks": networks,
                },
            )
        self._tell(row.id)
        return CreatedApiKey(ApiKey.from_row(row), made.key)

    async def revoke(self, ctx: AuditContext, key_id: str) -> ApiKey:
        """Ends the key at once here, within the revocation feed's bound everywhere; idempotent."""
        if not key_format.is_key_id(key_id):
            raise NotFound(f"no API key with id {key_id!r}")
        async with self._db.transaction() as session:
            row = await ApiKeyRepository(session).get(key_id, lock=True)
            if row is None:
                raise NotFound(f"no API key with id {key_id!r}")
            if row.revoked_at is None:
                now = self._clock.now()
                row.revoked_at = now
                await RevocationLog(session).record("apikey", row.id, now, row.expires_at)
                await self._audit.append(
                    session,
                    AuditTag.APIKEY_REVOKED,
                    ctx,
                    scope=await owner_scope(session, row.owner),
                    subject=f"apikey:{row.id}",
                    details={"owner": row.owner},
                )
            key = ApiKey.from_row(row)
        self._tell(key.id)
        return key

    async def get(self, key_id: str) -> ApiKey:
        if not key_format.is_key_id(key_id):
            raise NotFound(f"no API key with id {key_id!r}")
        async with self._db.transaction() as session:
            row = await ApiKeyRepository(session).get(key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}")
        return ApiKey.from_row(row)

    async def list(
        self, owner: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[ApiKey]:
        if owner is not None:
            check_owner(owner)
        async with self._db.transaction() as session:
            rows = await ApiKeyRepository(session).page(owner, after, limit)
        return [ApiKey.from_row(row) for row in rows]

    async def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its stored digest, for authentication."""
        async with self._db.transaction() as session:
            row = await ApiKeyRepository(session).get(key_id)
        return (ApiKey.from_row(row), row.digest) if row else None

    async def record_use(self, used: dict[str, datetime]) -> None:
        if used:
            async with self._db.transaction() as session:
                await ApiKeyRepository(session).record_use(used)

    def _tell(self, key_id: str) -> None:
        for listener in self._listeners:
            listener(key_id)
