"""OAuth 2.0 clients: register, change, disable, delete, rotate secrets, check secrets.

Secrets are generated here (``agcs_`` + 256 random bits), shown once, and stored only as
keyed digests (STYLE item 7); a rotated-out secret may keep working for an overlap so
deployments can roll over without downtime. Disabling a client revokes its grants in the
same transaction, deleting it cascades to them (spec §7).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from authgate.accounts.users import below
from authgate.audit.events import AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clients.models import PRIVATE_KEY_JWT, SECRET_METHODS, Client
from authgate.clients.validation import MAX_TTL, ClientSpec, check_spec
from authgate.clock import Clock
from authgate.digests import Digester, new_secret
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.service import ACCESS_COUNTER, ROOT, check_scope
from authgate.storage.db import Database
from authgate.storage.models import ClientRow
from authgate.storage.repositories import (
    BindingRepository,
    ChangeCounterRepository,
    ClientRepository,
    GrantRevoker,
    RevocationLog,
)

SECRET_PREFIX = "agcs"
CLIENT_ID_LENGTH = 24  # ~143 bits from [A-Za-z0-9]: URL-safe, never starts with "-"
_ID_ALPHABET = string.ascii_letters + string.digits
# RFC 6749 Appendix A.1/A.2: client_id and client_secret are VSCHAR (%x20-7E).
_CLIENT_ID = re.compile(r"^[\x20-\x7e]{1,128}\Z")
_SECRET = re.compile(r"^[\x20-\x7e]{1,512}\Z")
_DECOY = "0" * 64
_FIELDS = frozenset(ClientSpec.__dataclass_fields__)


def _new_client_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(CLIENT_ID_LENGTH))


def _seconds(value: timedelta | str | None) -> int | None:
    assert not isinstance(value, str)  # checked specs hold timedeltas
    return None if value is None else int(value.total_seconds())


def _spec_of(row: ClientRow) -> ClientSpec:
    client = Client.from_row(row)
    return ClientSpec(
        name=client.name,
        public=client.public,
        auth_method=client.auth_method,
        grant_types=client.grant_types,
        scopes=client.scopes,
        redirect_uris=client.redirect_uris,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        audiences=client.audiences,
        first_party=client.first_party,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        access_token_ttl=client.access_token_ttl,
        refresh_token_ttl=client.refresh_token_ttl,
        scope=client.scope,
    )


def _store(row: ClientRow, spec: ClientSpec) -> None:
    assert spec.auth_method is not None and spec.grant_types is not None  # checked specs
    row.name = spec.name
    row.public = spec.public
    row.auth_method = spec.auth_method
    row.grant_types = list(spec.grant_types)
    row.scopes = list(spec.scopes)
    row.redirect_uris = list(spec.redirect_uris)
    row.post_logout_redirect_uris = list(spec.post_logout_redirect_uris)
    row.audience = " ".join(spec.audiences) or None
    row.first_party = spec.first_party
    row.jwks = spec.jwks
    row.jwks_uri = spec.jwks_uri
    row.access_token_ttl = _seconds(spec.access_token_ttl)
    row.refresh_token_ttl = _seconds(spec.refresh_token_ttl)
    row.scope = spec.scope
    if row.auth_method not in SECRET_METHODS:
        row.secret_digest = None
        row.previous_secret_digest = None
        row.previous_secret_expires_at = None


def _tuple(value: Any) -> Any:
    """Lists from callers become tuples; a bare string stays (the checks know it)."""
    return tuple(value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class ClientCredentials:
    client: Client
    secret_digest: str | None
    previous_secret_digest: str | None
    previous_secret_expires_at: datetime | None


def check_secret(
    found: ClientCredentials | None, secret: str, digester: Digester, now: datetime
) -> Client | None:
    """The client when ``secret`` is its current secret or a previous one still in its
    overlap. Both digests are always compared (a decoy for a missing one), so timing
    tells nothing about which matched or whether the client exists."""
    current = found.secret_digest if found else None
    expires = found.previous_secret_expires_at if found else None
    previous = found.previous_secret_digest if found and expires and expires > now else None
    right_current = digester.matches(secret, current or _DECOY) and bool(current)
    right_previous = digester.matches(secret, previous or _DECOY) and bool(previous)
    if found is None or found.client.disabled or found.client.auth_method not in SECRET_METHODS:
        return None
    return found.client if right_current or right_previous else None


class ClientService:
    def __init__(
        self,
        db: Database,
        digester: Digester,
        audit: AuditLog,
        clock: Clock,
        *,
        max_access_token_ttl: timedelta = MAX_TTL,
    ) -> None:
        self._db = db
        self._digester = digester
        self._audit = audit
        self._clock = clock
        self._max_access_ttl = max_access_token_ttl
        self._on_change: Callable[[], None] = lambda: None

    def listen(self, on_change: Callable[[], None]) -> None:
        """Tell ``on_change`` (the decision engine) after a client is created, disabled,
        enabled or deleted: decisions about it change at once in this process."""
        self._on_change = on_change

    async def create(
        self,
        ctx: AuditContext,
        *,
        name: str,
        grant_types: Sequence[str] | None = None,
        scopes: str | Sequence[str] = (),
        redirect_uris: Sequence[str] = (),
        post_logout_redirect_uris: Sequence[str] = (),
        public: bool = False,
        auth_method: str | None = None,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        audiences: Sequence[str] = (),
        first_party: bool = False,
        access_token_ttl: timedelta | str | None = None,
        refresh_token_ttl: timedelta | str | None = None,
        scope: str = ROOT,
    ) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret (``None`` for public and
        ``private_key_jwt`` clients). The secret is never shown again."""
        spec = self._check(
            ClientSpec(
                name=name,
                public=public,
                auth_method=auth_method,
                grant_types=_tuple(grant_types),
                scopes=_tuple(scopes),
                redirect_uris=_tuple(redirect_uris),
                post_logout_redirect_uris=_tuple(post_logout_redirect_uris),
                audiences=_tuple(audiences),
                first_party=first_party,
                jwks=jwks,
                jwks_uri=jwks_uri,
                access_token_ttl=access_token_ttl,
                refresh_token_ttl=refresh_token_ttl,
                scope=scope,
            )
        )
        now = self._clock.now()
        secret = new_secret(SECRET_PREFIX) if spec.auth_method in SECRET_METHODS else None
        row = ClientRow(
            client_id=_new_client_id(),
            secret_digest=self._digester.digest(secret) if secret else None,
            previous_secret_digest=None,
            previous_secret_expires_at=None,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        _store(row, spec)
        async with self._db.transaction() as session:
            await ClientRepository(session).add(row)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # caches refresh
            await self._audit.append(
                session,
                AuditTag.CLIENT_CREATED,
                ctx,
                scope=row.scope,
                subject=f"client:{row.client_id}",
                details={
                    "name": row.name,
                    "auth_method": row.auth_method,
                    "grant_types": list(row.grant_types),
                    "scope": row.scope,
                },
            )
        self._on_change()
        return Client.from_row(row), secret

    async def update(
        self,
        client_id: str,
        ctx: AuditContext,
        *,
        expect: Callable[[Client], None] | None = None,
        **changes: Any,
    ) -> Client:
        """Change only the fields given (the keyword arguments of :meth:`create`, but not
        ``public``: a client does not turn from confidential to public or back).
        ``expect`` sees the client as stored, under a row lock, before anything changes
        (an ``If-Match`` check: RFC 9110 §13.1.1), and may refuse by raising."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise InvalidInput(f"a client has no changeable field {unknown[0]!r}")
        async with self._db.transaction() as session:
            row = await self._require(ClientRepository(session), client_id, lock=True)
            if expect is not None:
                expect(Client.from_row(row))
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # caches refresh
            old = _spec_of(row)
            if "public" in changes and bool(changes.pop("public")) != old.public:
                kind = "public" if old.public else "confidential"
                raise InvalidInput(
                    f"client {client_id!r} is {kind}; that cannot change: register a new client"
                )
            changes = {k: _tuple(v) for k, v in changes.items()}
            if "auth_method" in changes and changes["auth_method"] != PRIVATE_KEY_JWT:
                changes.setdefault("jwks", None)
                changes.setdefault("jwks_uri", None)
            if changes.get("jwks") is not None:
                changes.setdefault("jwks_uri", None)
            if changes.get("jwks_uri") is not None:
                changes.setdefault("jwks", None)
            new = self._check(replace(old, **changes))
            changed = sorted(k for k, v in asdict(new).items() if asdict(old)[k] != v)
            _store(row, new)
            row.updated_at = self._clock.now()
            await self._audit.append(
                session,
                AuditTag.CLIENT_UPDATED,
                ctx,
                scope=row.scope,
                subject=f"client:{row.client_id}",
                details={"changed": changed},
            )
            return Client.from_row(row)

    async def set_disabled(
        self,
        client_id: str,
        disabled: bool,
        ctx: AuditContext,
        *,
        expect: Callable[[Client], None] | None = None,
    ) -> Client:
        """Disabling revokes every grant of the client at once (its refresh tokens stop
        working, its access tokens introspect inactive). Enabling does not restore them.
        ``expect`` as in :meth:`update`."""
        async with self._db.transaction() as session:
            row = await self._require(ClientRepository(session), client_id, lock=True)
            if expect is not None:
                expect(Client.from_row(row))
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # caches refresh
            now = self._clock.now()
            row.disabled = disabled
            row.updated_at = now
            details: dict[str, Any] = {}
            if disabled:
                revoked = await GrantRevoker(session).revoke_for_client(row.client_id, now)
                details["grants_revoked"] = revoked
            tag = AuditTag.CLIENT_DISABLED if disabled else AuditTag.CLIENT_ENABLED
            await self._audit.append(
                session,
                tag,
                ctx,
                scope=row.scope,
                subject=f"client:{row.client_id}",
                details=details,
            )
            client = Client.from_row(row)
        self._on_change()
        return client

    async def delete(
        self, client_id: str, ctx: AuditContext, *, expect: Callable[[Client], None] | None = None
    ) -> None:
        """Delete the client with its codes, grants, tokens, consents and bindings.
        ``expect`` as in :meth:`update`."""
        async with self._db.transaction() as session:
            clients = ClientRepository(session)
            row = await self._require(clients, client_id, lock=True)
            if expect is not None:
                expect(Client.from_row(row))
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # caches refresh
            unbound = await BindingRepository(session).delete_for_member(f"client:{client_id}")
            await clients.delete(row.client_id)
            await RevocationLog(session).record("client", row.client_id, self._clock.now())
            await self._audit.append(
                session,
                AuditTag.CLIENT_DELETED,
                ctx,
                scope=row.scope,
                subject=f"client:{row.client_id}",
                details={"name": row.name, "bindings_removed": unbound},
            )
        self._on_change()

    async def rotate_secret(
        self, client_id: str, ctx: AuditContext, *, overlap: timedelta = timedelta(0)
    ) -> str:
        """A new secret; the current one keeps working for ``overlap`` (any older one stops
        at once)."""
        if overlap < timedelta(0) or overlap > MAX_TTL:
            raise InvalidInput("the overlap must be between 0 and 3650d")
        async with self._db.transaction() as session:
            row = await self._require(ClientRepository(session), client_id, lock=True)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # caches refresh
            if row.auth_method not in SECRET_METHODS:
                raise InvalidInput(
                    f"client {client_id!r} authenticates with {row.auth_method}, not a secret"
                )
            now = self._clock.now()
            secret = new_secret(SECRET_PREFIX)
            keep = overlap > timedelta(0) and row.secret_digest is not None
            row.previous_secret_digest = row.secret_digest if keep else None
            row.previous_secret_expires_at = now + overlap if keep else None
            row.secret_digest = self._digester.digest(secret)
            row.updated_at = now
            await self._audit.append(
                session,
                AuditTag.CLIENT_SECRET_ROTATED,
                ctx,
                scope=row.scope,
                subject=f"client:{row.client_id}",
                details={"overlap_seconds": int(overlap.total_seconds()) if keep else 0},
            )
        return secret

    async def get(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            return None
        async with self._db.transaction() as session:
            row = await ClientRepository(session).get(client_id)
        return Client.from_row(row) if row else None

    async def authenticate_secret(self, client_id: str, secret: str) -> Client | None:
        """The client, when ``secret`` is its current secret or a previous one still in its
        overlap; ``None`` for anything else (unknown, disabled, no secret, wrong secret,
        malformed input). Digests are compared in constant time."""
        if not isinstance(secret, str) or not _SECRET.match(secret):
            return None
        found = await self.credentials(client_id)
        return check_secret(found, secret, self._digester, self._clock.now())

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        """The client with its secret digests, for a verifier that caches them."""
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            return None
        async with self._db.transaction() as session:
            row = await ClientRepository(session).get(client_id)
        if row is None:
            return None
        return ClientCredentials(
            client=Client.from_row(row),
            secret_digest=row.secret_digest,
            previous_secret_digest=row.previous_secret_digest,
            previous_secret_expires_at=row.previous_secret_expires_at,
        )

    async def list(self) -> list[Client]:
        async with self._db.transaction() as session:
            return [Client.from_row(r) for r in await ClientRepository(session).list()]

    async def page(
        self, after: str | None, limit: int, *, q: str | None = None, scope: str | None = None
    ) -> Sequence[Client]:
        """Clients in ``client_id`` order after ``after``: those whose name starts with
        ``q`` (ignoring case), living at ``scope`` or below it."""
        query = select(ClientRow).order_by(ClientRow.client_id).limit(limit)
        if after is not None:
            query = query.where(ClientRow.client_id > after)
        if q:
            query = query.where(func.lower(ClientRow.name).startswith(q.lower(), autoescape=True))
        if scope is not None:
            query = query.where(below(ClientRow.scope, check_scope(scope)))
        async with self._db.transaction() as session:
            return [Client.from_row(r) for r in (await session.execute(query)).scalars()]

    def _check(self, spec: ClientSpec) -> ClientSpec:
        return check_spec(spec, max_access_token_ttl=self._max_access_ttl)

    @staticmethod
    async def _require(clients: ClientRepository, client_id: str, *, lock: bool) -> ClientRow:
        row = await clients.get(client_id, lock=lock) if _CLIENT_ID.match(client_id) else None
        if row is None:
            raise NotFound(f"no client with id {client_id!r}")
        return row
