"""RFC 6749 §4.4: the client acts for itself; the token carries what the client holds."""

from __future__ import annotations

from typing import ClassVar

from authgate.protocol import scopes as scope_rules
from authgate.protocol.grants.base import (
    GrantDeps,
    access_ttl,
    check_scope_param,
    default_scopes,
    opaque_tokens,
    resolve_api,
    single_resource,
)
from authgate.protocol.messages import NO_STORE, OAuthRequest, OAuthResponse
from authgate.protocol.ports import ClientView


class ClientCredentialsGrant:
    grant_type: ClassVar[str] = "client_credentials"
    public_clients: ClassVar[bool] = False

    def __init__(self, deps: GrantDeps) -> None:
        self._deps = deps

    async def handle(self, request: OAuthRequest, client: ClientView) -> OAuthResponse:
        requested = check_scope_param(request)
        api = await resolve_api(self._deps.apis, client, single_resource(request))
        held = await self._deps.policy.permissions_at_root(f"client:{client.client_id}")
        granted = scope_rules.effective(
            requested or default_scopes(api, client),
            api_permissions=api.permissions,
            client_scopes=client.scopes,
            held=held,
            allow_oidc=False,
        )
        issued = await self._deps.minter.access_token(
            client_id=client.client_id,
            subject=client.client_id,
            audience=api.audience,
            scope=granted,
            ttl=access_ttl(self._deps, client),
            opaque=opaque_tokens(api),
        )
        # RFC 6749 §4.4.3: no refresh token for client credentials.
        return OAuthResponse(
            200,
            {
                "access_token": issued.token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": scope_rules.join(granted),
            },
            dict(NO_STORE),
        )
