"""Assembles the OAuth engine from AuthGate's services (called by the composition root)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from authgate.protocol.client_auth import ClientAuthenticator
from authgate.protocol.config import EngineConfig
from authgate.protocol.endpoints import (
    IntrospectionEndpoint,
    RevocationEndpoint,
    TokenEndpoint,
    TokenInspector,
)
from authgate.protocol.grants.authorization_code import AuthorizationCodeGrant
from authgate.protocol.grants.base import GrantDeps, TokenGrant
from authgate.protocol.grants.client_credentials import ClientCredentialsGrant
from authgate.protocol.grants.refresh_token import RefreshTokenGrant
from authgate.protocol.ports import (
    AccessPolicy,
    ApiDirectory,
    ApiKeyIntrospector,
    ApiView,
    ClientDirectory,
    ClientRateLimit,
    RemoteKeySets,
    UserDirectory,
)
from authgate.protocol.tokens import TokenMinter
from authgate.rbac.admin import ADMINISTRATION
from authgate.tokens.cache import CachedRevocations
from authgate.tokens.signer import JwtSigner
from authgate.tokens.store import SqlTokenStore

#: AuthGate's own API (spec §4): the decision API and the admin API.
ADMIN_PERMISSIONS = (
    "authgate:evaluate",
    "authgate:evaluate.explain",  # decisions also carry the engine's reason (docs/authzen.md)
    *ADMINISTRATION,
)


@dataclass(frozen=True)
class BuiltinApi:
    audience: str
    permissions: Sequence[str]
    name: str = "AuthGate"
    token_format: str = "jwt"


class ApisWithBuiltin:
    """The registered APIs plus AuthGate's own, which exists without registration."""

    def __init__(self, apis: ApiDirectory, builtin: BuiltinApi) -> None:
        self._apis = apis
        self._builtin = builtin

    async def get(self, audience: str) -> ApiView | None:
        if audience == self._builtin.audience:
            return self._builtin
        return await self._apis.get(audience)


@dataclass(frozen=True)
class OAuthEngine:
    config: EngineConfig
    token: TokenEndpoint
    introspection: IntrospectionEndpoint
    revocation: RevocationEndpoint
    inspector: TokenInspector
    store: SqlTokenStore
    minter: TokenMinter
    signer: JwtSigner
    apis: ApisWithBuiltin
    grant_types: tuple[str, ...]
    client_auth: ClientAuthenticator
    """RFC 6749 §2.3 client authentication, for other endpoints that take it."""


def build_engine(
    config: EngineConfig,
    *,
    store: SqlTokenStore,
    signer: JwtSigner,
    clients: ClientDirectory,
    apis: ApiDirectory,
    policy: AccessPolicy,
    users: UserDirectory,
    digest: Callable[[str], str],
    now: Callable[[], datetime],
    limit: ClientRateLimit | None = None,
    revocations: CachedRevocations | None = None,
    remote_keys: RemoteKeySets | None = None,
    api_keys: ApiKeyIntrospector | None = None,
) -> OAuthEngine:
    """``api_keys``: introspection describes API keys too (spec §5) when given."""
    all_apis = ApisWithBuiltin(apis, BuiltinApi(config.admin_audience, ADMIN_PERMISSIONS))
    minter = TokenMinter(signer, config, now, store, digest)
    deps = GrantDeps(
        config=config,
        minter=minter,
        apis=all_apis,
        policy=policy,
        grants=store,
        codes=store,
        users=users,
        digest=digest,
        now=now,
    )
    grants: dict[str, TokenGrant] = {
        grant.grant_type: grant
        for grant in (
            AuthorizationCodeGrant(deps),
            ClientCredentialsGrant(deps),
            RefreshTokenGrant(deps),
        )
    }
    auth = ClientAuthenticator(clients, store, config.token_endpoint, now, remote_keys)
    # Introspection asks the same questions on every call; answer them from memory when
    # the composition root provides the cache (it does; tests may not).
    inspector = TokenInspector(
        config,
        signer,
        revocations or store,
        revocations or store,
        clients,
        revocations or users,
        digest,
        now,
        revocations or store,
    )
    return OAuthEngine(
        config=config,
        token=TokenEndpoint(auth, grants, limit),
        introspection=IntrospectionEndpoint(auth, inspector, api_keys),
        revocation=RevocationEndpoint(auth, inspector, store, store, now),
        inspector=inspector,
        store=store,
        minter=minter,
        signer=signer,
        apis=all_apis,
        grant_types=tuple(grants),
        client_auth=auth,
    )
