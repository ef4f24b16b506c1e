"""Signing keys: generated at ``init``, sealed at rest, rotated without downtime.

Rotation (spec §5): a new key is published in the JWKS at once but signs only from
``activates_at`` (now + ``key_propagation``), by which time every verifier that caches the
JWKS for ``jwks_max_age`` has it. The key it replaces stops signing at that moment and
stays published until every token it signed has expired (``publish_until``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, OKPKey, RSAKey

from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import StorageUnavailable
from authgate.keys.master import MasterKey
from authgate.storage.db import Database
from authgate.storage.models import SigningKeyRow
from authgate.storage.repositories import SigningKeyRepository

SigningKey = ECKey | RSAKey | OKPKey
log = logging.getLogger("authgate.keys")

#: Access tokens are ES256 (RFC 9068 lets the AS choose); ID tokens RS256, which OpenID
#: Connect Core §15.1 requires every provider to support; EdDSA is offered beside them.
ALGORITHMS = ("ES256", "RS256", "EdDSA")
_SEAL_PURPOSE = "signing-key"


def _generate(alg: str) -> SigningKey:
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def _import(alg: str, jwk: dict[str, Any]) -> SigningKey:
    if alg == "ES256":
        return ECKey.import_key(jwk)
    if alg == "RS256":
        return RSAKey.import_key(jwk)
    return OKPKey.import_key(jwk)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    alg: str
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None
    publish_until: datetime | None

    def state(self, now: datetime) -> str:
        if self.activates_at > now:
            return "next"
        if self.retires_at is not None and self.retires_at <= now:
            return "retired"
        return "active"

    def published(self, now: datetime) -> bool:
        return self.publish_until is None or self.publish_until > now


@dataclass(frozen=True)
class _Loaded:
    info: KeyInfo
    public_jwk: dict[str, Any]
    private: SigningKey


class KeyService:
    """Keys are read from the database into memory and re-read every ``refresh_seconds``,
    so a rotation made by the CLI or another replica reaches this process within that."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        audit: AuditLog,
        clock: Clock,
        *,
        propagation: timedelta,
        max_token_ttl: timedelta,
        refresh_seconds: float = 5.0,
    ) -> None:
        self._db = db
        self._master = master
        self._audit = audit
        self._clock = clock
        self._propagation = propagation
        self._max_token_ttl = max_token_ttl
        self._refresh_seconds = refresh_seconds
        self._loaded: list[_Loaded] = []
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    # -- writing ------------------------------------------------------------------------

    def _new_row(self, alg: str, activates_at: datetime) -> SigningKeyRow:
        key = _generate(alg)
        public = dict(key.as_dict(private=False))
        kid = key.thumbprint()
        public.update(kid=kid, alg=alg, use="sig")
        private = json.dumps(key.as_dict(private=True)).encode()
        return SigningKeyRow(
            kid=kid,
            alg=alg,
            public_jwk=public,
            private_enc=self._master.seal(private, _SEAL_PURPOSE),
            created_at=self._clock.now(),
            activates_at=activates_at,
            retires_at=None,
            publish_until=None,
        )

    async def ensure_initial(self, ctx: AuditContext) -> list[str]:
        """Create a key for every algorithm that has none; returns the new kids."""
        created: list[str] = []
        async with self._db.transaction() as session:
            repo = SigningKeyRepository(session)
            have = {row.alg for row in await repo.all()}
            for alg in ALGORITHMS:
                if alg in have:
                    continue
                row = self._new_row(alg, self._clock.now())
                await repo.add(row)
                created.append(row.kid)
                await self._audit.append(
                    session,
                    AuditTag.KEY_CREATED,
                    ctx,
                    scope=GLOBAL_SCOPE,
                    subject=f"key:{row.kid}",
                    details={"alg": alg},
                )
        self._loaded_at = 0.0
        return created

    async def rotate(self, ctx: AuditContext, *, immediate: bool = False) -> list[KeyInfo]:
        """Publish a new key per algorithm; it signs from now + propagation (or at once
        when ``immediate``, for a compromised key, accepting that some verifiers will
        briefly refetch the JWKS)."""
        now = self._clock.now()
        activates = now if immediate else now + self._propagation
        new: list[KeyInfo] = []
        async with self._db.transaction() as session:
            repo = SigningKeyRepository(session)
            rows = list(await repo.all())
            for alg in ALGORITHMS:
                for old in rows:
                    if old.alg == alg and (old.retires_at is None or old.retires_at > activates):
                        old.retires_at = max(activates, old.activates_at)
                        old.publish_until = old.retires_at + self._max_token_ttl
                row = self._new_row(alg, activates)
                await repo.add(row)
                new.append(_info(row))
                await self._audit.append(
                    session,
                    AuditTag.KEY_ROTATED,
                    ctx,
                    scope=GLOBAL_SCOPE,
                    subject=f"key:{row.kid}",
                    details={"alg": alg, "activates_at": activates.isoformat()},
                )
        self._loaded_at = 0.0
        return new

    # -- reading ------------------------------------------------------------------------

    async def _keys(self) -> list[_Loaded]:
        if time.monotonic() - self._loaded_at < self._refresh_seconds and self._loaded:
            return self._loaded
        if self._loaded and self._lock.locked():
            return self._loaded  # another request is refreshing: serve what we have
        async with self._lock:
            if time.monotonic() - self._loaded_at < self._refresh_seconds and self._loaded:
                return self._loaded
            try:
                async with self._db.transaction() as session:
                    rows = await SigningKeyRepository(session).all()
            except StorageUnavailable:
                if not self._loaded:
                    raise
                # Keep signing and publishing what we have (spec §7: JWT work needs no
                # database); try the database again in a second.
                log.warning("database unreachable; serving cached signing keys")
                self._loaded_at = time.monotonic() - self._refresh_seconds + 1.0
                return self._loaded
            known = {k.info.kid: k for k in self._loaded}
            loaded = []
            for row in rows:
                cached = known.get(row.kid)
                private = (
                    cached.private
                    if cached
                    else _import(
                        row.alg, json.loads(self._master.open(row.private_enc, _SEAL_PURPOSE))
                    )
                )
                loaded.append(_Loaded(_info(row), dict(row.public_jwk), private))
            self._loaded, self._loaded_at = loaded, time.monotonic()
            return loaded

    async def infos(self) -> list[KeyInfo]:
        return [k.info for k in await self._keys()]

    async def jwks(self) -> dict[str, Any]:
        """RFC 7517 §5: every key that is about to sign, signs, or signed a live token."""
        now = self._clock.now()
        return {"keys": [k.public_jwk for k in await self._keys() if k.info.published(now)]}

    async def signing_key(self, alg: str) -> tuple[str, SigningKey]:
        """The key that signs for ``alg`` now: the newest one already active."""
        now = self._clock.now()
        active = [
            k for k in await self._keys() if k.info.alg == alg and k.info.state(now) == "active"
        ]
        if not active:
            raise LookupError(f"no active {alg} signing key: run `authgate init`")
        chosen = max(active, key=lambda k: k.info.activates_at)
        return chosen.info.kid, chosen.private

    async def verification_key(self, kid: str) -> tuple[str, SigningKey] | None:
        """The (algorithm, key) of a published key, to verify AuthGate's own tokens."""
        now = self._clock.now()
        for loaded in await self._keys():
            if loaded.info.kid == kid and loaded.info.published(now):
                return loaded.info.alg, loaded.private
        return None

    async def ready(self) -> bool:
        try:
            for alg in ("ES256", "RS256"):
                await self.signing_key(alg)
        except LookupError:
            return False
        return True


def _info(row: SigningKeyRow) -> KeyInfo:
    return KeyInfo(
        kid=row.kid,
        alg=row.alg,
        created_at=row.created_at,
        activates_at=row.activates_at,
        retires_at=row.retires_at,
        publish_until=row.publish_until,
    )
