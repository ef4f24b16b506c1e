"""What the engine needs from the rest of AuthGate, as small structural interfaces.

The engine never imports the services or the database: the composition root hands it
objects that fit these shapes (domain services, SQL stores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


class ClientView(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def public(self) -> bool: ...
    @property
    def auth_method(self) -> str: ...
    @property
    def grant_types(self) -> Sequence[str]: ...
    @property
    def scopes(self) -> Sequence[str]: ...
    @property
    def redirect_uris(self) -> Sequence[str]: ...
    @property
    def audiences(self) -> Sequence[str]: ...
    @property
    def first_party(self) -> bool: ...
    @property
    def jwks(self) -> Mapping[str, Any] | None: ...
    @property
    def jwks_uri(self) -> str | None: ...
    @property
    def access_token_ttl(self) -> timedelta | None: ...
    @property
    def refresh_token_ttl(self) -> timedelta | None: ...
    @property
    def disabled(self) -> bool: ...


class KeySetUnavailable(Exception):
    """A client's ``jwks_uri`` gave no usable JWK Set (refused, unreachable, malformed);
    the message says why, for the log only."""


class RemoteKeySets(Protocol):
    """Clients' JWK Sets published at their ``jwks_uri`` (OpenID Connect Core §10.1.1)."""

    async def get(self, uri: str, *, refresh: bool = False) -> Mapping[str, Any]:
        """The JWK Set at ``uri``, cached. ``refresh``: the cached set lacks the key an
        assertion names, so fetch again, unless the last fetch is too recent (then the
        cached set comes back). Raises :class:`KeySetUnavailable`."""
        ...


class ApiView(Protocol):
    @property
    def audience(self) -> str: ...
    @property
    def permissions(self) -> Sequence[str]: ...
    @property
    def token_format(self) -> str:
        """``jwt`` (RFC 9068) or ``opaque`` (reference tokens, spec §5)."""
        ...


class ClientDirectory(Protocol):
    async def get(self, client_id: str) -> ClientView | None: ...
    async def authenticate_secret(self, client_id: str, secret: str) -> ClientView | None: ...


class ApiDirectory(Protocol):
    async def get(self, audience: str) -> ApiView | None: ...


class AccessPolicy(Protocol):
    async def permissions_at_root(self, member: str) -> frozenset[str]: ...


class ClientRateLimit(Protocol):
    async def admit_client(self, client_id: str) -> int | None:
        """Seconds the client must wait, or None when its request may go ahead."""
        ...


class Signer(Protocol):
    """Signs with the current key of ``alg`` and verifies AuthGate's own tokens."""

    async def sign(self, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str: ...
    async def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...


@dataclass(frozen=True)
class GrantRecord:
    id: str
    client_id: str
    user_id: str | None
    scope: str
    audience: str | None
    auth_time: datetime | None
    amr: tuple[str, ...]
    expires_at: datetime
    revoked: bool


class GrantStore(Protocol):
    """Grants (token families) and their rotating refresh tokens (RFC 9700 §4.14.2)."""

    async def rotate_refresh(self, digest: str, now: datetime) -> GrantRecord | None:
        """Mark the refresh token used and return its grant, in one transaction. A token
        already used revokes its whole grant and raises :class:`RefreshReused`; unknown,
        expired and revoked ones return None."""
        ...

    async def add_refresh(
        self, grant_id: str, digest: str, scope: str, now: datetime, expires_at: datetime
    ) -> None: ...
    async def revoke_grant(self, grant_id: str, now: datetime) -> None: ...
    async def grant(self, grant_id: str) -> GrantRecord | None: ...
    async def refresh_owner(self, digest: str) -> tuple[GrantRecord, bool] | None:
        """The grant of a refresh token, with ``scope`` and ``expires_at`` of that token
        (not of the grant), and whether the token was used already; None when unknown.
        Changes nothing."""
        ...


class DenyList(Protocol):
    async def add(self, jti: str, expires_at: datetime) -> None: ...
    async def contains(self, jti: str) -> bool: ...


class AccessTokenStore(Protocol):
    """Opaque access tokens (spec §5): the claims a JWT would carry, kept under the
    token's keyed digest. A record never changes; revocation goes through the deny list."""

    async def save_access_token(
        self, digest: str, claims: Mapping[str, Any], expires_at: datetime
    ) -> None: ...
    async def access_token_claims(self, digest: str) -> dict[str, Any] | None:
        """The stored claims, expired or not (the reader checks ``exp``); None when unknown."""
        ...


class ApiKeyIntrospector(Protocol):
    """API keys at the introspection endpoint (spec §5: accepted wherever access tokens
    are)."""

    async def introspect(self, key: str) -> dict[str, Any] | None:
        """RFC 7662 §2.2 members describing a live key (``sub``, ``scope``, ``exp``,
        ``iat``, ``token_type``, ``client_id`` when a client owns it, …); None when it is
        not a live key."""
        ...


class AssertionLedger(Protocol):
    async def first_use(self, key: str, expires_at: datetime) -> bool:
        """Record ``key``; False when it was recorded before (a replay)."""
        ...


@dataclass(frozen=True)
class CodeRecord:
    digest: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    audience: str | None
    code_challenge: str | None
    nonce: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    expires_at: datetime
    used: bool


class CodeReplayed(Exception):
    """The code was redeemed before; the store has revoked what was issued from it."""


class RefreshReused(Exception):
    """A used refresh token came back; the store has revoked its whole grant."""


class CodeStore(Protocol):
    async def save(self, record: CodeRecord) -> None: ...
    async def peek(self, digest: str) -> CodeRecord | None: ...
    async def redeem(self, digest: str, grant: GrantRecord, now: datetime) -> None:
        """In one transaction: mark the code used and create ``grant`` from it. Raises
        :class:`CodeReplayed` (after revoking the grant issued from it) when it was used."""
        ...


class UserView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def disabled(self) -> bool: ...


class UserDirectory(Protocol):
    async def get_by_id(self, user_id: str) -> UserView | None: ...
