"""Client authentication at the token, introspection and revocation endpoints.

- ``client_secret_basic`` / ``client_secret_post``: RFC 6749 §2.3.1 (Basic credentials
  are form-urlencoded before base64, so they are decoded here);
- ``private_key_jwt``: RFC 7523 §2.2 and §3 (OpenID Connect Core §9), the assertion's
  ``aud`` must be the token endpoint and its ``jti`` is accepted once; it is verified with
  the client's inline ``jwks`` or the set at its ``jwks_uri`` (through the
  ``RemoteKeySets`` port), fetched again when it names an unknown ``kid`` (OpenID Connect
  Core §10.1.1);
- ``none``: a public client names itself with ``client_id`` (RFC 6749 §2.1).

A client may use exactly one method per request (RFC 6749 §2.3). Every failure is
``invalid_client``; when the client tried Basic the answer carries ``WWW-Authenticate``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authgate.protocol.errors import InvalidClient, InvalidRequest
from authgate.protocol.messages import OAuthRequest
from authgate.protocol.ports import (
    AssertionLedger,
    ClientDirectory,
    ClientView,
    KeySetUnavailable,
    RemoteKeySets,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
MAX_ASSERTION_LIFETIME = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=30)
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="authgate"'}


@dataclass(frozen=True)
class Authenticated:
    client: ClientView
    method: str


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials", headers=BASIC_CHALLENGE) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials", headers=BASIC_CHALLENGE)
    return unquote_plus(client_id), unquote_plus(secret)


class ClientAuthenticator:
    def __init__(
        self,
        clients: ClientDirectory,
        ledger: AssertionLedger,
        token_endpoint: str,
        now: Callable[[], datetime],
        remote_keys: RemoteKeySets | None = None,
    ) -> None:
        self._clients = clients
        self._ledger = ledger
        self._token_endpoint = token_endpoint
        self._now = now
        self._remote_keys = remote_keys

    async def authenticate(self, request: OAuthRequest) -> Authenticated:
        form = request.form
        basic = _basic(request.authorization) if request.authorization else None
        methods = [
            name
            for name, present in (
                ("client_secret_basic", basic is not None),
                ("client_secret_post", "client_secret" in form),
                ("private_key_jwt", "client_assertion" in form),
            )
            if present
        ]
        if len(methods) > 1:
            raise InvalidRequest("use exactly one client authentication method (RFC 6749 §2.3)")
        if basic is not None:
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise InvalidRequest("client_id in the body differs from the Basic credentials")
            return await self._secret(client_id, secret, "client_secret_basic", BASIC_CHALLENGE)
        if "client_secret" in form:
            return await self._secret(
                form.get("client_id", ""), form["client_secret"], "client_secret_post", {}
            )
        if "client_assertion" in form:
            return await self._assertion(form)
        public_id = form.get("client_id")
        if not public_id:
            raise InvalidClient("client authentication is required")
        client = await self._clients.get(public_id)
        if client is None or client.disabled or not client.public:
            raise InvalidClient("this client must authenticate")
        return Authenticated(client, "none")

    async def _secret(
        self, client_id: str, secret: str, method: str, headers: dict[str, str]
    ) -> Authenticated:
        if not client_id or not secret or len(client_id) > 200 or len(secret) > 500:
            raise InvalidClient("invalid client credentials", headers=headers)
        client = await self._clients.authenticate_secret(client_id, secret)
        if client is None:
            raise InvalidClient("invalid client credentials", headers=headers)
        if client.auth_method != method and not (
            # Basic and post carry the same secret; a client registered for one may use
            # the other, as most providers allow.
            {client.auth_method, method} <= {"client_secret_basic", "client_secret_post"}
        ):
            raise InvalidClient(
                f"this client must authenticate with {client.auth_method}", headers=headers
            )
        return Authenticated(client, method)

    async def _assertion(self, form: Mapping[str, str]) -> Authenticated:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion", "")
        client_id = _peek_issuer(assertion)
        if client_id is None or form.get("client_id", client_id) != client_id:
            raise InvalidClient("the client assertion is malformed")
        client = await self._clients.get(client_id)
        if client is None or client.disabled or client.auth_method != "private_key_jwt":
            raise InvalidClient("invalid client assertion")
        keys = await self._client_keys(client, _peek_kid(assertion))
        try:
            token = jwt.decode(assertion, keys, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClient("invalid client assertion", detail=str(exc)) from None
        claims = token.claims
        self._check_assertion_claims(claims, client_id, self._now())
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if not await self._ledger.first_use(f"{client_id}:{claims['jti']}", expires + CLOCK_SKEW):
            raise InvalidClient("this client assertion was used before (RFC 7523 §3)")
        return Authenticated(client, "private_key_jwt")

    async def _client_keys(self, client: ClientView, kid: str | None) -> KeySet:
        """RFC 7523 §3 item 9: the keys the client registered, inline or at its
        ``jwks_uri``. A ``kid`` missing from the fetched set asks for the set again
        (OpenID Connect Core §10.1.1, key rotation); the port decides whether it fetches."""
        if client.jwks:
            return _import_keys(client.jwks)
        if not client.jwks_uri:
            raise InvalidClient("invalid client assertion", detail="the client has no keys")
        if self._remote_keys is None:
            raise InvalidClient(
                "invalid client assertion", detail="this engine fetches no jwks_uri key sets"
            )
        try:
            keys = _import_keys(await self._remote_keys.get(client.jwks_uri))
            if kid is not None and all(key.kid != kid for key in keys.keys):
                keys = _import_keys(await self._remote_keys.get(client.jwks_uri, refresh=True))
        except KeySetUnavailable as exc:
            raise InvalidClient(
                "invalid client assertion", detail=f"jwks_uri of {client.client_id}: {exc}"
            ) from None
        return keys

    def _check_assertion_claims(
        self, claims: Mapping[str, object], client_id: str, now: datetime
    ) -> None:
        """RFC 7523 §3: iss and sub are the client, aud names this endpoint, exp is set
        (and not too far out), jti is present."""
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise InvalidClient("the assertion's iss and sub must both be the client_id")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self._token_endpoint not in audiences:
            raise InvalidClient("the assertion's aud must be the token endpoint")
        exp, jti = claims.get("exp"), claims.get("jti")
        if not isinstance(exp, int | float) or not isinstance(jti, str) or not jti:
            raise InvalidClient("the assertion needs exp and jti")
        expires = datetime.fromtimestamp(exp, UTC)
        if expires + CLOCK_SKEW < now:
            raise InvalidClient("the assertion has expired")
        if expires - now > MAX_ASSERTION_LIFETIME:
            raise InvalidClient("the assertion lives too long: keep exp within 10 minutes")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and datetime.fromtimestamp(nbf, UTC) - CLOCK_SKEW > now:
            raise InvalidClient("the assertion is not valid yet")


def _import_keys(jwks: Mapping[str, Any]) -> KeySet:
    try:
        return KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClient("invalid client assertion", detail=f"client keys: {exc}") from None


def _peek(assertion: str, part: int, name: str) -> str | None:
    """An unverified string member of the header (``part`` 0) or the claims (1), only
    to choose the key set and key the signature is then checked with."""
    parts = assertion.split(".")
    if len(parts) != 3 or len(assertion) > 8192:
        return None
    segment = parts[part]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        return None
    value = decoded.get(name) if isinstance(decoded, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def _peek_issuer(assertion: str) -> str | None:
    return _peek(assertion, 1, "iss")


def _peek_kid(assertion: str) -> str | None:
    return _peek(assertion, 0, "kid")
