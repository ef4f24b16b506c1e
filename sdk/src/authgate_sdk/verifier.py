"""Local verification of AuthGate access tokens: RFC 9068 §4 with the RFC 8725 rules.

The checks, cheapest first; any failure is :class:`InvalidToken` with a short reason:

1. the token is a compact JWS of at most 16 KiB (a JWE or anything else is refused);
2. the header's ``typ`` is ``at+jwt`` (RFC 9068 §4 item 1, RFC 8725 §3.11: an ID token is
   not an access token), it names a ``kid`` and carries no ``crit`` extension;
3. the ``kid`` is a key the issuer publishes, and the header's ``alg`` is that key's
   ``alg`` — the algorithm comes from the key, never from the token (RFC 8725 §2.1, §3.1),
   so ``none`` and HS256-with-the-public-key are refused; ``jku``, ``x5u`` and ``jwk``
   headers are never looked at;
4. the signature verifies (RFC 9068 §4 item 5);
5. ``iss`` is the issuer exactly, ``aud`` contains this API (items 3–4); ``exp``, ``nbf``
   and ``iat`` agree with the clock within ``leeway`` (item 6); ``iss``, ``sub``, ``aud``,
   ``exp``, ``iat``, ``jti`` and ``client_id`` are present (RFC 9068 §2.2).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from authgate_sdk.claims import Claims
from authgate_sdk.errors import InsufficientScope, InvalidToken
from authgate_sdk.keys import KeySet, VerificationKey

MAX_TOKEN_LENGTH = 16_384
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class TokenVerifier:
    """Verifies access tokens AuthGate at ``issuer`` issued for ``audience``.

    ``http`` is the client keys are fetched with (an ``httpx.AsyncClient`` for
    :meth:`averify`, an ``httpx.Client`` for :meth:`verify`); by default the verifier
    makes its own. ``clock`` returns the current time in seconds since the epoch.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        leeway: float = 30.0,
        http: httpx.AsyncClient | httpx.Client | None = None,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.keys = KeySet(issuer, http=http, min_refetch_interval=min_refetch_interval)
        self._clock = clock

    async def averify(self, token: str, permission: str | None = None) -> Claims:
        """The claims of ``token``; raises :class:`InvalidToken`, or
        :class:`InsufficientScope` when it lacks ``permission``."""
        header, signing_input, signature, payload = _split(token)
        kid = header["kid"]
        key = self.keys.cached(kid) or await self.keys.aget(kid)
        return self._finish(key, header, signing_input, signature, payload, permission)

    def verify(self, token: str, permission: str | None = None) -> Claims:
        """:meth:`averify` for synchronous code (blocking on a key fetch when one is due)."""
        header, signing_input, signature, payload = _split(token)
        kid = header["kid"]
        key = self.keys.cached(kid) or self.keys.get(kid)
        return self._finish(key, header, signing_input, signature, payload, permission)

    async def aclose(self) -> None:
        await self.keys.aclose()

    def close(self) -> None:
        self.keys.close()

    def _finish(
        self,
        key: VerificationKey | None,
        header: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
        payload: str,
        permission: str | None,
    ) -> Claims:
        if key is None:
            raise InvalidToken("unknown signing key")
        if header.get("alg") != key.alg:
            raise InvalidToken("algorithm not allowed")
        try:
            valid = key.verify(signing_input, signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidToken("bad signature")
        claims = Claims.from_payload(self._check(payload))
        if permission is not None and not claims.has(permission):
            raise InsufficientScope(permission)
        return claims

    def _check(self, payload: str) -> dict[str, Any]:
        try:
            claims = json.loads(_b64(payload))
        except (ValueError, binascii.Error) as exc:
            raise InvalidToken("malformed token") from exc
        if not isinstance(claims, dict) or any(name not in claims for name in REQUIRED_CLAIMS):
            raise InvalidToken("missing claim")
        if claims["iss"] != self.issuer:
            raise InvalidToken("wrong issuer")
        aud = claims["aud"]
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise InvalidToken("wrong audience")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not (_number(exp) and _number(iat) and _number(nbf)):
            raise InvalidToken("malformed claim")
        if not all(isinstance(claims[name], str) for name in ("sub", "jti", "client_id")):
            raise InvalidToken("malformed claim")
        if not isinstance(claims.get("scope", ""), str):
            raise InvalidToken("malformed claim")
        now = self._clock()
        if now >= exp + self.leeway:
            raise InvalidToken("expired")
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise InvalidToken("not yet valid")
        return claims


def _split(token: str) -> tuple[dict[str, Any], bytes, bytes, str]:
    """Header, signing input, signature and payload segment of a compact JWS."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _COMPACT.fullmatch(token):
        raise InvalidToken("malformed token")
    head, payload, signature = token.split(".")
    try:
        header = json.loads(_b64(head))
        raw_signature = _b64(signature)
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("not an access token")
    if "crit" in header or not isinstance(header.get("kid"), str):
        raise InvalidToken("unsupported header")
    return header, f"{head}.{payload}".encode("ascii"), raw_signature, payload
