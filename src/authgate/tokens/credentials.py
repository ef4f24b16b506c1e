"""One question for every enforcement point inside AuthGate (the decision API, the admin
API, forward auth): who presents this credential?

A credential is an AuthGate access token (a JWT verified locally, or an opaque reference
token) or an API key (spec §5); API keys are told apart by their prefix before anything
else is done with them.
"""

from __future__ import annotations

from typing import Protocol

from authgate.protocol.tokens import API_KEY_PREFIX
from authgate.tokens.callers import Caller, CallerAuthenticator

__all__ = ["API_KEY_PREFIX", "ApiKeyAuthenticator", "CredentialResolver"]


class ApiKeyAuthenticator(Protocol):
    async def authenticate(self, key: str, source_ip: str | None) -> Caller | None: ...


class CredentialResolver:
    def __init__(self, tokens: CallerAuthenticator, api_keys: ApiKeyAuthenticator | None) -> None:
        self._tokens = tokens
        self._api_keys = api_keys

    async def resolve(
        self, credential: str, *, audience: str | None, source_ip: str | None = None
    ) -> Caller | None:
        """The live caller behind ``credential``, or None (RFC 6750 §3.1 ``invalid_token``).

        ``audience``: an access token's ``aud`` must contain it (None accepts any). API
        keys carry no audience; they are limited by their permissions instead.
        """
        if credential.startswith(API_KEY_PREFIX):
            if self._api_keys is None:
                return None
            return await self._api_keys.authenticate(credential, source_ip)
        return await self._tokens.authenticate(credential, audience)
