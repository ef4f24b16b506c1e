"""RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5–4.6): redeem a code for tokens, once."""

from __future__ import annotations

from typing import ClassVar

from authgate.protocol import pkce
from authgate.protocol import scopes as scope_rules
from authgate.protocol.errors import InvalidGrant, InvalidRequest
from authgate.protocol.grants.base import GrantDeps, check_admin_delegation
from authgate.protocol.grants.issuing import new_grant_id, token_set
from authgate.protocol.messages import OAuthRequest, OAuthResponse
from authgate.protocol.ports import ClientView, CodeReplayed, GrantRecord


class AuthorizationCodeGrant:
    grant_type: ClassVar[str] = "authorization_code"
    public_clients: ClassVar[bool] = True

    def __init__(self, deps: GrantDeps) -> None:
        self._deps = deps

    async def handle(self, request: OAuthRequest, client: ClientView) -> OAuthResponse:
        form = request.form
        code = form.get("code")
        if not code:
            raise InvalidRequest("the code parameter is required")
        digest = self._deps.digest(code)
        record = await self._deps.codes.peek(digest)
        now = self._deps.now()
        # One message for every way a code can be wrong: it must not tell a thief which.
        if record is None or record.client_id != client.client_id:
            raise InvalidGrant("the code is invalid, expired or was issued to another client")
        if record.expires_at <= now and not record.used:
            raise InvalidGrant("the code is invalid, expired or was issued to another client")
        # §4.1.3: required, and identical, when the authorization request included it.
        if form.get("redirect_uri", "") != record.redirect_uri:
            raise InvalidGrant("redirect_uri must equal the one of the authorization request")
        pkce.verify(record.code_challenge, form.get("code_verifier"))
        check_admin_delegation(self._deps.config, client, record.audience)  # still first party
        grant = GrantRecord(
            id=new_grant_id(),
            client_id=client.client_id,
            user_id=record.user_id,
            scope=record.scope,
            audience=record.audience,
            auth_time=record.auth_time,
            amr=record.amr,
            expires_at=now + self._deps.config.refresh_token_absolute_ttl,
            revoked=False,
        )
        try:
            await self._deps.codes.redeem(digest, grant, now)
        except CodeReplayed:
            # RFC 6749 §4.1.2: a second use fails and revokes what the first one issued.
            raise InvalidGrant(
                "the code was already used; the tokens issued from it are revoked",
                event="oauth:code:replayed",
            ) from None
        return await token_set(
            self._deps, client, grant, scope_rules.parse(record.scope), nonce=record.nonce
        )
