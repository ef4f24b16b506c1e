"""The one interface every grant implements, and what grants share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from authgate.protocol import scopes as scope_rules
from authgate.protocol.config import EngineConfig
from authgate.protocol.errors import InvalidRequest, InvalidTarget
from authgate.protocol.messages import OAuthRequest, OAuthResponse
from authgate.protocol.ports import (
    AccessPolicy,
    ApiDirectory,
    ApiView,
    ClientView,
    CodeStore,
    GrantStore,
    UserDirectory,
)
from authgate.protocol.tokens import OPAQUE_FORMAT, TokenMinter


@dataclass(frozen=True)
class GrantDeps:
    config: EngineConfig
    minter: TokenMinter
    apis: ApiDirectory
    policy: AccessPolicy
    grants: GrantStore
    codes: CodeStore
    users: UserDirectory
    digest: Callable[[str], str]
    now: Callable[[], datetime]


class TokenGrant(Protocol):
    grant_type: ClassVar[str]
    #: Whether a public client (no secret) may use this grant.
    public_clients: ClassVar[bool]

    async def handle(self, request: OAuthRequest, client: ClientView) -> OAuthResponse: ...


async def resolve_api(apis: ApiDirectory, client: ClientView, resource: str | None) -> ApiView:
    """RFC 8707 §2: the API named by ``resource``, else the client's default audience."""
    audience = resource or (client.audiences[0] if client.audiences else None)
    if audience is None:
        raise InvalidTarget("name the API with the resource parameter (RFC 8707)")
    if len(audience) > 500:
        raise InvalidTarget("the resource is too long")
    if client.audiences and audience not in client.audiences:
        raise InvalidTarget(f"this client may not ask for tokens for {audience}")
    api = await apis.get(audience)
    if api is None:
        raise InvalidTarget(f"no API has the audience {audience}")
    return api


def single_resource(request: OAuthRequest) -> str | None:
    """One API per token (RFC 8707 §2 allows several; AuthGate issues single-audience
    tokens, as RFC 9068 §3 recommends)."""
    if "resource" in request.repeated:
        raise InvalidTarget("ask for one resource per token request")
    resource = request.form.get("resource")
    if resource is not None and "#" in resource:
        raise InvalidTarget("the resource must not contain a fragment (RFC 8707 §2)")
    return resource


def opaque_tokens(api: ApiView | None) -> bool:
    """Spec §5: an API may choose opaque reference tokens over JWTs. Tokens for no API
    (userinfo) and for AuthGate's own API (always a JWT) stay JWTs."""
    return api is not None and api.token_format == OPAQUE_FORMAT


def access_ttl(deps: GrantDeps, client: ClientView) -> timedelta:
    return client.access_token_ttl or deps.config.access_token_ttl


def default_scopes(api: ApiView, client: ClientView) -> list[str]:
    """When no scope is asked for (RFC 6749 §3.3), ask for every API permission the
    client may request; the subject's holdings then decide what is granted."""
    return [p for p in api.permissions if not client.scopes or p in client.scopes]


def check_scope_param(request: OAuthRequest) -> list[str]:
    if "scope" in request.repeated:
        raise InvalidRequest("the scope parameter is repeated")
    return scope_rules.parse(request.form.get("scope"))


def check_admin_delegation(config: EngineConfig, client: ClientView, audience: str | None) -> None:
    """A user's token for AuthGate's own API carries all their administrative power (the
    admin API asks the engine at each object's scope, not the token's scope, which holds
    only what is held at ``/``): only a first-party client may hold one (spec §4)."""
    if audience == config.admin_audience and not client.first_party:
        raise InvalidTarget(
            "only first-party clients may act on AuthGate's own API for a user; a "
            "third-party client administers with client credentials and its own bindings"
        )
