"""What the code and refresh grants share: minting the token set of a user grant."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from authgate.protocol import scopes as scope_rules
from authgate.protocol.errors import InvalidGrant
from authgate.protocol.grants.base import GrantDeps, access_ttl, opaque_tokens
from authgate.protocol.messages import NO_STORE, OAuthResponse
from authgate.protocol.ports import ClientView, GrantRecord
from authgate.protocol.tokens import REFRESH_PREFIX, opaque


def new_grant_id() -> str:
    return secrets.token_urlsafe(16)


def userinfo_audience(deps: GrantDeps) -> str:
    return deps.config.issuer + "/userinfo"


def wants_refresh(client: ClientView, scope: list[str]) -> bool:
    """OpenID Connect Core §11: with ``openid``, refresh tokens need ``offline_access``;
    plain OAuth clients get one when they may use the refresh_token grant."""
    if "refresh_token" not in client.grant_types:
        return False
    return "offline_access" in scope if "openid" in scope else True


async def token_set(
    deps: GrantDeps,
    client: ClientView,
    grant: GrantRecord,
    scope: list[str],
    *,
    nonce: str | None = None,
    with_id_token: bool = True,
    refresh_scope: list[str] | None = None,
) -> OAuthResponse:
    """Access token (always), refresh token (when allowed), ID token (with ``openid``)."""
    now = deps.now()
    assert grant.user_id is not None
    user = await deps.users.get_by_id(grant.user_id)
    if user is None or user.disabled:
        raise InvalidGrant("the user of this grant is no longer active")
    api = await deps.apis.get(grant.audience) if grant.audience is not None else None
    issued = await deps.minter.access_token(
        client_id=client.client_id,
        subject=user.id,
        audience=grant.audience or userinfo_audience(deps),
        scope=scope,
        ttl=access_ttl(deps, client),
        grant_id=grant.id,
        auth_time=grant.auth_time,
        amr=grant.amr,
        opaque=opaque_tokens(api),
    )
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope_rules.join(scope),
    }
    kept = refresh_scope if refresh_scope is not None else scope
    if wants_refresh(client, kept):
        refresh = opaque(REFRESH_PREFIX)
        idle = client.refresh_token_ttl or deps.config.refresh_token_ttl
        expires: datetime = min(now + idle, grant.expires_at)
        await deps.grants.add_refresh(
            grant.id, deps.digest(refresh), scope_rules.join(kept), now, expires
        )
        body["refresh_token"] = refresh
    if "openid" in scope and with_id_token:
        extra: dict[str, Any] = {}
        if "email" in scope and user.email:
            extra["email"] = user.email
        if "profile" in scope:
            extra["preferred_username"] = user.username
        body["id_token"] = await deps.minter.id_token(
            client_id=client.client_id,
            subject=user.id,
            auth_time=grant.auth_time,
            amr=grant.amr,
            nonce=nonce,
            access_token=issued.token,
            extra=extra,
        )
    return OAuthResponse(200, body, dict(NO_STORE))
