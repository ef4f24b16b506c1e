"""The engine's :class:`~authgate.protocol.ports.Signer` over the signing keys (joserfc)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from authgate.keys.service import KeyService


class JwtSigner:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    async def sign(self, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
        kid, key = await self._keys.signing_key(alg)
        return jwt.encode({**header, "alg": alg, "kid": kid}, claims, key, algorithms=[alg])

    async def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Header and claims of a token signed by one of our published keys, else None.
        The algorithm comes from our key, never from the token (RFC 8725 §3.1)."""
        kid = _kid(token)
        if kid is None:
            return None
        found = await self._keys.verification_key(kid)
        if found is None:
            return None
        alg, key = found
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError):
            return None
        return dict(decoded.header), dict(decoded.claims)


def _kid(token: str) -> str | None:
    if len(token) > 16_384 or token.count(".") != 2:
        return None
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
