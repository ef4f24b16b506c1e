"""Minting tokens: access tokens (JWTs per RFC 9068, or opaque reference tokens for APIs
that chose them, spec §5), ID tokens (OpenID Connect Core §2), and opaque secrets for
refresh tokens and codes (prefixed by kind, stored as digests)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authgate.protocol.config import EngineConfig
from authgate.protocol.ports import AccessTokenStore, Signer

REFRESH_PREFIX = "agrt"
CODE_PREFIX = "agac"
ACCESS_PREFIX = "agat"
"""Opaque access tokens: ``agat_`` and 256 random bits."""
API_KEY_PREFIX = "agk_"
"""What every API key starts with (spec §5), so it is told apart before any lookup."""
OPAQUE_FORMAT = "opaque"
"""The ``token_format`` of an API whose access tokens are opaque references."""


def opaque(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def left_hash(token: str) -> str:
    """OpenID Connect Core §3.1.3.6 ``at_hash``: base64url of the left half of the SHA-256
    of the token (SHA-256 matches RS256 and ES256)."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int


class TokenMinter:
    def __init__(
        self,
        signer: Signer,
        config: EngineConfig,
        now: Callable[[], datetime],
        references: AccessTokenStore,
        digest: Callable[[str], str],
    ) -> None:
        self._signer = signer
        self._config = config
        self._now = now
        self._references = references
        self._digest = digest

    async def access_token(
        self,
        *,
        client_id: str,
        subject: str,
        audience: str,
        scope: Sequence[str],
        ttl: timedelta,
        grant_id: str | None = None,
        auth_time: datetime | None = None,
        amr: Sequence[str] = (),
        opaque: bool = False,
    ) -> IssuedAccessToken:
        """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti, plus scope; auth_time
        and amr when a user authenticated. ``opaque``: the same claims are stored under
        the digest of a random reference, recorded before it is returned (spec §7)."""
        now = self._now()
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": subject,
            "aud": audience,
            "client_id": client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": jti,
            "scope": " ".join(scope),
        }
        if grant_id is not None:
            claims["gid"] = grant_id  # the token family, so revoking it reaches this token
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        if amr:
            claims["amr"] = list(amr)
        if opaque:
            token = f"{ACCESS_PREFIX}_{secrets.token_urlsafe(32)}"
            expires_at = datetime.fromtimestamp(claims["exp"], UTC)
            await self._references.save_access_token(self._digest(token), claims, expires_at)
        else:
            alg = self._config.access_token_alg
            token = await self._signer.sign({"typ": "at+jwt"}, claims, alg)
        return IssuedAccessToken(token, jti, int(ttl.total_seconds()))

    async def id_token(
        self,
        *,
        client_id: str,
        subject: str,
        auth_time: datetime | None,
        amr: Sequence[str],
        nonce: str | None,
        access_token: str | None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """OpenID Connect Core §2 and §3.1.3.6."""
        now = self._now()
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": subject,
            "aud": client_id,
            "azp": client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self._config.id_token_ttl).timestamp()),
        }
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        if amr:
            claims["amr"] = list(amr)
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = left_hash(access_token)
        claims.update(extra or {})
        return await self._signer.sign({"typ": "JWT"}, claims, self._config.id_token_alg)
