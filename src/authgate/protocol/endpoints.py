"""The token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009)
endpoints, on neutral requests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from authgate.protocol.client_auth import ClientAuthenticator
from authgate.protocol.config import EngineConfig
from authgate.protocol.errors import (
    InvalidClient,
    InvalidRequest,
    SlowDown,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from authgate.protocol.grants.base import TokenGrant
from authgate.protocol.messages import NO_STORE, OAuthRequest, OAuthResponse
from authgate.protocol.ports import (
    AccessTokenStore,
    ApiKeyIntrospector,
    ClientDirectory,
    ClientRateLimit,
    ClientView,
    DenyList,
    GrantStore,
    Signer,
    UserDirectory,
)
from authgate.protocol.tokens import ACCESS_PREFIX, API_KEY_PREFIX, REFRESH_PREFIX

INACTIVE = {"active": False}
_MAX_OPAQUE = 200


class TokenEndpoint:
    def __init__(
        self,
        auth: ClientAuthenticator,
        grants: Mapping[str, TokenGrant],
        limit: ClientRateLimit | None = None,
    ) -> None:
        self._auth = auth
        self._grants = grants
        self._limit = limit

    async def handle(self, request: OAuthRequest) -> OAuthResponse:
        if request.repeated:
            # RFC 6749 §3.2: request parameters must not be included more than once.
            raise InvalidRequest(f"parameter repeated: {', '.join(sorted(request.repeated))}")
        grant_type = request.form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("the grant_type parameter is required")
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"grant type {grant_type[:100]!r} is not supported")
        authenticated = await self._auth.authenticate(request)
        client = authenticated.client
        if self._limit is not None:
            # Counted after authentication, so nobody can use up another client's quota.
            wait = await self._limit.admit_client(client.client_id)
            if wait is not None:
                raise SlowDown(
                    f"too many token requests from this client; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        if client.public and not grant.public_clients:
            raise UnauthorizedClient(f"a public client may not use {grant_type}")
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the {grant_type} grant")
        return await grant.handle(request, client)


class TokenInspector:
    """Reads any token AuthGate issued: access tokens (JWTs, or opaque references looked
    up by digest) and opaque refresh tokens."""

    def __init__(
        self,
        config: EngineConfig,
        signer: Signer,
        deny: DenyList,
        grants: GrantStore,
        clients: ClientDirectory,
        users: UserDirectory,
        digest: Callable[[str], str],
        now: Callable[[], datetime],
        references: AccessTokenStore,
    ) -> None:
        self._config = config
        self._signer = signer
        self._references = references
        self._deny = deny
        self._grants = grants
        self._clients = clients
        self._users = users
        self._digest = digest
        self._now = now

    async def access_token(self, token: str) -> dict[str, Any] | None:
        """The claims of a live access token, or None (expired, revoked, unknown: the
        caller learns nothing about which)."""
        claims = await self._claims(token)
        if claims is None or claims.get("iss") != self._config.issuer:
            return None
        now = int(self._now().timestamp())
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= now:
            return None
        nbf = claims.get("nbf", now)  # RFC 7519 §4.1.5: not before; AuthGate sets none
        if not isinstance(nbf, int | float) or isinstance(nbf, bool) or nbf > now:
            return None
        if await self._deny.contains(str(claims.get("jti"))):
            return None
        gid = claims.get("gid")
        if isinstance(gid, str):
            grant = await self._grants.grant(gid)
            if grant is None or grant.revoked:
                return None
        if not await self._holders_active(str(claims.get("client_id")), claims):
            return None
        return claims

    async def _claims(self, token: str) -> dict[str, Any] | None:
        """What the token says, unchecked for expiry and revocation: a reference is looked
        up by its digest, a JWT must carry a valid signature and ``typ: at+jwt``."""
        if token.startswith(ACCESS_PREFIX + "_"):
            if len(token) > _MAX_OPAQUE:
                return None
            return await self._references.access_token_claims(self._digest(token))
        verified = await self._signer.verify(token)
        if verified is None or verified[0].get("typ") != "at+jwt":
            return None
        return verified[1]

    async def _holders_active(self, client_id: str, claims: Mapping[str, Any]) -> bool:
        """Spec §7: disabling a user or client ends what it holds at once."""
        client = await self._clients.get(client_id)
        if client is None or client.disabled:
            return False
        subject = claims.get("sub")
        if subject != client_id and isinstance(subject, str):
            user = await self._users.get_by_id(subject)
            if user is None or user.disabled:
                return False
        return True

    async def refresh_token(self, token: str) -> dict[str, Any] | None:
        if not token.startswith(REFRESH_PREFIX + "_") or len(token) > 200:
            return None
        found = await self._grants.refresh_owner(self._digest(token))
        if found is None or found[1]:
            return None
        owner = found[0]
        if owner.revoked or owner.expires_at <= self._now():
            return None
        claims: dict[str, Any] = {
            "client_id": owner.client_id,
            "scope": owner.scope,
            "exp": int(owner.expires_at.timestamp()),
            "iss": self._config.issuer,
            "gid": owner.id,
        }
        if owner.user_id is not None:
            claims["sub"] = owner.user_id
        if not await self._holders_active(owner.client_id, claims):
            return None
        return claims


class IntrospectionEndpoint:
    """RFC 7662 §2: callers authenticate; anything not live answers ``active: false``.
    API keys (spec §5) are described by ``api_keys`` when it is given."""

    def __init__(
        self,
        auth: ClientAuthenticator,
        inspector: TokenInspector,
        api_keys: ApiKeyIntrospector | None = None,
    ) -> None:
        self._auth = auth
        self._inspector = inspector
        self._api_keys = api_keys

    async def handle(self, request: OAuthRequest) -> OAuthResponse:
        authenticated = await self._auth.authenticate(request)
        if authenticated.client.public:
            raise InvalidClient("public clients may not introspect tokens")
        token = request.form.get("token")
        if not token:
            raise InvalidRequest("the token parameter is required (RFC 7662 §2.1)")
        if token.startswith(API_KEY_PREFIX) and self._api_keys is not None:
            return await _describe_key(self._api_keys, authenticated.client, token)
        claims = await self._inspector.access_token(token)
        token_type = "Bearer"
        if claims is None:
            claims = await self._inspector.refresh_token(token)
            token_type = "refresh_token"
        if claims is None or not _may_see(authenticated.client, claims):
            return OAuthResponse(200, dict(INACTIVE), dict(NO_STORE))
        body = {"active": True, "token_type": token_type}
        for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"):
            if name in claims:
                body[name] = claims[name]
        return OAuthResponse(200, body, dict(NO_STORE))


async def _describe_key(keys: ApiKeyIntrospector, caller: ClientView, key: str) -> OAuthResponse:
    described = await keys.introspect(key)
    if described is None or not _may_see_key(caller, described):
        return OAuthResponse(200, dict(INACTIVE), dict(NO_STORE))
    body = {name: value for name, value in described.items() if name != "active"}
    return OAuthResponse(200, {"active": True, **body}, dict(NO_STORE))


def _may_see_key(caller: ClientView, described: Mapping[str, Any]) -> bool:
    """RFC 7662 §4 for API keys, which carry no audience: described to the client that
    owns the key, or to a resource server (a confidential client registered for at least
    one API) that received it."""
    return described.get("client_id") == caller.client_id or bool(caller.audiences)


def _may_see(caller: ClientView, claims: Mapping[str, Any]) -> bool:
    """RFC 7662 §4: a token is described only to the client it was issued to, or to a
    client registered for one of the APIs (audiences) the token is for — the resource
    server that received it. Anyone else learns only ``active: false``."""
    if claims.get("client_id") == caller.client_id:
        return True
    aud = claims.get("aud")
    audiences = {aud} if isinstance(aud, str) else set(aud or ())
    return bool(audiences & set(caller.audiences))


class RevocationEndpoint:
    """RFC 7009 §2: revoking a refresh token ends its whole grant; revoking an access token
    (a JWT or an opaque reference) denies its ``jti`` until it expires. Unknown tokens
    answer 200 too (§2.2)."""

    def __init__(
        self,
        auth: ClientAuthenticator,
        inspector: TokenInspector,
        grants: GrantStore,
        deny: DenyList,
        now: Callable[[], datetime],
    ) -> None:
        self._auth = auth
        self._inspector = inspector
        self._grants = grants
        self._deny = deny
        self._now = now

    async def handle(self, request: OAuthRequest) -> tuple[OAuthResponse, str | None]:
        """The response, and what was revoked (for the audit log) or None."""
        authenticated = await self._auth.authenticate(request)
        token = request.form.get("token")
        if not token:
            raise InvalidRequest("the token parameter is required (RFC 7009 §2.1)")
        client_id = authenticated.client.client_id
        revoked: str | None = None
        refresh = await self._inspector.refresh_token(token)
        if refresh is not None and refresh["client_id"] == client_id:
            await self._grants.revoke_grant(str(refresh["gid"]), self._now())
            revoked = f"grant:{refresh['gid']}"
        else:
            claims = await self._inspector.access_token(token)
            # §2.1: only the client the token was issued to may revoke it.
            if claims is not None and claims.get("client_id") == client_id:
                expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
                await self._deny.add(str(claims["jti"]), expires)
                revoked = f"jti:{claims['jti']}"
        return OAuthResponse(200, {}, dict(NO_STORE)), revoked
