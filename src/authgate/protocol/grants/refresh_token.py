"""RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token;
presenting a used one revokes the whole grant."""

from __future__ import annotations

from typing import ClassVar

from authgate.protocol import scopes as scope_rules
from authgate.protocol.errors import InvalidGrant, InvalidRequest, InvalidScope
from authgate.protocol.grants.base import GrantDeps, check_admin_delegation, check_scope_param
from authgate.protocol.grants.issuing import token_set
from authgate.protocol.messages import OAuthRequest, OAuthResponse
from authgate.protocol.ports import ClientView, RefreshReused

INVALID = "the refresh token is invalid, expired or revoked"


class RefreshTokenGrant:
    grant_type: ClassVar[str] = "refresh_token"
    public_clients: ClassVar[bool] = True

    def __init__(self, deps: GrantDeps) -> None:
        self._deps = deps

    async def handle(self, request: OAuthRequest, client: ClientView) -> OAuthResponse:
        token = request.form.get("refresh_token")
        if not token:
            raise InvalidRequest("the refresh_token parameter is required")
        requested = check_scope_param(request)
        digest = self._deps.digest(token)
        found = await self._deps.grants.refresh_owner(digest)
        # Checked before the token is spent, so another client cannot burn it (§6: the
        # token is bound to the client it was issued to). A used token goes on to
        # rotate_refresh, which revokes its family.
        if found is None or found[0].client_id != client.client_id:
            raise InvalidGrant(INVALID)
        owner = found[0]
        if owner.user_id is not None:  # the client may have stopped being first party
            check_admin_delegation(self._deps.config, client, owner.audience)
        original = scope_rules.parse(owner.scope)
        if requested and not set(requested) <= set(original):
            raise InvalidScope("a refresh may narrow the scope, never widen it (RFC 6749 §6)")
        try:
            grant = await self._deps.grants.rotate_refresh(digest, self._deps.now())
        except RefreshReused:
            raise InvalidGrant(
                "the refresh token was already used; its whole grant is revoked",
                event="oauth:refresh:reused",
            ) from None
        if grant is None:
            raise InvalidGrant(INVALID)
        scope = [s for s in original if not requested or s in requested]
        # What the user holds may have changed since the grant: drop what they lost.
        if grant.audience is not None and grant.user_id is not None:
            held = await self._deps.policy.permissions_at_root(f"user:{grant.user_id}")
            scope = [s for s in scope if s in scope_rules.OIDC_SCOPES or scope_rules.holds(held, s)]
        # §6: a new refresh token keeps the scope of the one it replaces.
        return await token_set(self._deps, client, grant, scope, refresh_scope=original)
