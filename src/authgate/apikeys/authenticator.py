"""Who presents an API key, answered on the request path.

In order, cheapest first: the shape and checksum (no database: a typo or a random string
ends here); the key's record (cached per process, dropped whenever anything is revoked
anywhere, so a revocation is seen at once here and within the 1 s poll elsewhere); the
keyed digest, compared in constant time; revoked, expired, source network; the owner
still active; and what the owner holds now, so a permission taken from the owner is taken
from the key on the next request (spec §5).

``last_used_at`` is kept in memory and written by :meth:`flush_usage` every few seconds
(and at shutdown), not once per request.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from typing import Any

from authgate.apikeys import format as key_format
from authgate.apikeys.models import ApiKey
from authgate.apikeys.service import ApiKeyService
from authgate.clock import Clock
from authgate.digests import Digester
from authgate.rbac.engine import AccessEngine
from authgate.storage.changes import ChangeWatch
from authgate.tokens.callers import Caller

log = logging.getLogger("authgate.apikeys")

_MAX_CACHED = 50_000
NO_EXPIRY = 2**31 - 1
"""``expires_at`` of a key without one (caches bound themselves by their own TTL)."""

_Record = tuple[ApiKey, str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]


class ApiKeyAuthenticator:
    def __init__(
        self,
        keys: ApiKeyService,
        digester: Digester,
        engine: AccessEngine,
        revocations: ChangeWatch,
        clock: Clock,
    ) -> None:
        self._keys = keys
        self._digester = digester
        self._engine = engine
        self._revocations = revocations
        self._clock = clock
        self._records: dict[str, _Record | None] = {}
        self._generation = -1
        self._used: dict[str, datetime] = {}
        keys.listen(self.forget)

    def forget(self, key_id: str) -> None:
        self._records.pop(key_id, None)

    async def _record(self, key_id: str) -> _Record | None:
        generation = await self._revocations.current()
        if generation != self._generation:
            self._records, self._generation = {}, generation
        if key_id in self._records:
            return self._records[key_id]
        found = await self._keys.lookup(key_id)
        record: _Record | None = None
        if found is not None:
            key, digest = found
            networks = tuple(ipaddress.ip_network(n) for n in key.allowed_networks)
            record = (key, digest, networks)
        if len(self._records) >= _MAX_CACHED:
            self._records.clear()
        self._records[key_id] = record  # unknown ids too: a flood of them costs one query each
        return record

    async def _live(self, credential: str) -> _Record | None:
        parsed = key_format.parse(credential)
        if parsed is None:
            return None
        record = await self._record(parsed.key_id)
        if record is None:
            # Compare anyway, so an unknown id takes as long as a wrong secret.
            self._digester.matches(credential, "0" * 64)
            return None
        key, digest, _ = record
        if not self._digester.matches(credential, digest):
            return None
        if not key.live(self._clock.now()):
            return None
        return record

    async def authenticate(self, credential: str, source_ip: str | None) -> Caller | None:
        """The caller for ``credential`` presented from ``source_ip``, or None."""
        record = await self._live(credential)
        if record is None:
            return None
        key, _, networks = record
        if networks and not _inside(source_ip, networks):
            return None
        caller = await self._caller(key)
        if caller is not None:
            self._used[key.id] = self._clock.now()
        return caller

    async def _caller(self, key: ApiKey) -> Caller | None:
        if not await self._engine.active(key.owner):
            return None  # spec §5: disabling the owner disables its keys
        kind, _, ident = key.owner.partition(":")
        return Caller(
            subject_type=kind,
            subject_id=ident,
            client_id=ident if kind == "client" else "",
            scopes=await self._engine.permissions_at_root(key.owner),
            expires_at=int(key.expires_at.timestamp()) if key.expires_at else NO_EXPIRY,
            key_id=key.id,
            key_permissions=frozenset(key.permissions) if key.permissions else None,
        )

    async def introspect(self, credential: str) -> dict[str, Any] | None:
        """RFC 7662 §2.2 members for a live key. The allowed networks are the caller's
        to check (they are reported): introspection is asked by the resource server, not
        by whoever presented the key."""
        record = await self._live(credential)
        if record is None:
            return None
        key = record[0]
        caller = await self._caller(key)
        if caller is None:
            return None
        self._used[key.id] = self._clock.now()
        body: dict[str, Any] = {
            "token_type": "api_key",
            "sub": caller.subject_id,
            "subject_type": caller.subject_type,
            "scope": caller.scope_text,
            "iat": int(key.created_at.timestamp()),
            "key_id": key.id,
        }
        if caller.client_id:
            body["client_id"] = caller.client_id
        if key.expires_at is not None:
            body["exp"] = int(key.expires_at.timestamp())
        if key.allowed_networks:
            body["allowed_networks"] = list(key.allowed_networks)
        return body

    async def flush_usage(self) -> int:
        """Write the ``last_used_at`` seen since the last flush; returns how many keys."""
        used, self._used = self._used, {}
        try:
            await self._keys.record_use(used)
        except Exception:
            for key_id, at in used.items():  # try again next time
                self._used.setdefault(key_id, at)
            raise
        return len(used)


def _inside(
    source_ip: str | None,
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> bool:
    if source_ip is None:
        return False
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
