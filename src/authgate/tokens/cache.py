"""In-process caches of clients, APIs and held permissions for the token hot path.

Every write to those models bumps the ``access`` change counter in its own transaction;
each process reads the counter at most once per ``poll_seconds`` and drops its caches when
it moved. A change made anywhere (CLI, another replica) is therefore seen within
``poll_seconds`` plus one request (spec §2: within 5 seconds), and nothing lives only in
one process's memory (spec §8).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from authgate.apis.models import Api
from authgate.apis.service import ApiService
from authgate.clients.models import Client
from authgate.clients.service import ClientCredentials, ClientService, check_secret
from authgate.clock import Clock
from authgate.digests import Digester
from authgate.protocol.ports import GrantRecord, UserDirectory, UserView
from authgate.storage.changes import ChangeWatch as ChangeWatch
from authgate.tokens.store import SqlTokenStore

_MAX_ENTRIES = 50_000
_MAX_REFERENCES = 10_000


class _Memo:
    def __init__(self, watch: ChangeWatch) -> None:
        self._watch = watch
        self._generation = -1
        self._data: dict[Any, Any] = {}

    async def get(self, key: Any) -> tuple[bool, Any]:
        generation = await self._watch.current()
        if generation != self._generation:
            self._data, self._generation = {}, generation
        if key in self._data:
            return True, self._data[key]
        return False, None

    def put(self, key: Any, value: Any) -> None:
        if len(self._data) >= _MAX_ENTRIES:
            self._data.clear()
        self._data[key] = value


class CachedClients:
    """The engine's ClientDirectory, verifying secrets against cached digests."""

    def __init__(
        self, clients: ClientService, digester: Digester, clock: Clock, watch: ChangeWatch
    ) -> None:
        self._clients = clients
        self._digester = digester
        self._clock = clock
        self._memo = _Memo(watch)

    async def _credentials(self, client_id: str) -> ClientCredentials | None:
        hit, value = await self._memo.get(client_id)
        if not hit:
            value = await self._clients.credentials(client_id)
            self._memo.put(client_id, value)
        return value  # type: ignore[no-any-return]

    async def get(self, client_id: str) -> Client | None:
        found = await self._credentials(client_id)
        return found.client if found else None

    async def authenticate_secret(self, client_id: str, secret: str) -> Client | None:
        """Both digests are always compared, so timing tells nothing (constant time)."""
        found = await self._credentials(client_id) if len(client_id) <= 200 else None
        return check_secret(found, secret, self._digester, self._clock.now())


class CachedApis:
    def __init__(self, apis: ApiService, watch: ChangeWatch) -> None:
        self._apis = apis
        self._memo = _Memo(watch)

    async def get(self, audience: str) -> Api | None:
        hit, value = await self._memo.get(audience)
        if not hit:
            value = await self._apis.get(audience)
            self._memo.put(audience, value)
        return value  # type: ignore[no-any-return]


class CachedRevocations:
    """What introspection asks on every call — is this jti deny-listed, is this grant
    revoked, is this user still active, what does this opaque access token say —
    answered from memory.

    Every revocation bumps the ``revocations`` counter in its own transaction, and each
    answer is dropped when that counter moves: a revocation made in this process is seen
    at once, one made elsewhere within ``poll_seconds``. An opaque token's claims never
    change (it is revoked through the deny list, and deleted only after it expired), so
    they are kept regardless of the counter; unknown digests are not remembered.
    """

    def __init__(self, store: SqlTokenStore, users: UserDirectory, watch: ChangeWatch) -> None:
        self._store = store
        self._users = users
        self._watch = watch
        self._denied = _Memo(watch)
        self._grants = _Memo(watch)
        self._accounts = _Memo(watch)
        self._references: dict[str, dict[str, Any]] = {}

    async def contains(self, jti: str) -> bool:
        hit, value = await self._denied.get(jti)
        if not hit:
            value = await self._store.contains(jti)
            self._denied.put(jti, value)
        return bool(value)

    async def add(self, jti: str, expires_at: datetime) -> None:
        await self._store.add(jti, expires_at)  # the store tells the watch

    async def save_access_token(
        self, digest: str, claims: Mapping[str, Any], expires_at: datetime
    ) -> None:
        await self._store.save_access_token(digest, claims, expires_at)

    async def access_token_claims(self, digest: str) -> dict[str, Any] | None:
        claims = self._references.get(digest)
        if claims is None:
            claims = await self._store.access_token_claims(digest)
            if claims is None:
                return None
            if len(self._references) >= _MAX_REFERENCES:
                self._references.clear()
            self._references[digest] = claims
        return dict(claims)  # a copy: callers must not change what is cached

    async def grant(self, grant_id: str) -> GrantRecord | None:
        hit, value = await self._grants.get(grant_id)
        if not hit:
            value = await self._store.grant(grant_id)
            self._grants.put(grant_id, value)
        return value  # type: ignore[no-any-return]

    async def refresh_owner(self, digest: str) -> tuple[GrantRecord, bool] | None:
        return await self._store.refresh_owner(digest)  # a refresh token is looked up once

    async def rotate_refresh(self, digest: str, now: datetime) -> GrantRecord | None:
        return await self._store.rotate_refresh(digest, now)

    async def add_refresh(
        self, grant_id: str, digest: str, scope: str, now: datetime, expires_at: datetime
    ) -> None:
        await self._store.add_refresh(grant_id, digest, scope, now, expires_at)

    async def revoke_grant(self, grant_id: str, now: datetime) -> None:
        await self._store.revoke_grant(grant_id, now)

    async def get_by_id(self, user_id: str) -> UserView | None:
        hit, value = await self._accounts.get(user_id)
        if not hit:
            value = await self._users.get_by_id(user_id)
            self._accounts.put(user_id, value)
        return value  # type: ignore[no-any-return]
