"""The issuer's signing keys: discovery (OpenID Connect Discovery 1.0 §4, RFC 8414 §3) and
the JWK Set (RFC 7517 §5), fetched once and kept.

The set is fetched again when it is older than its ``Cache-Control: max-age`` (AuthGate
publishes a new key at least that long before it signs), and at once when a token names
a ``kid`` the set lacks (an immediate rotation). That second kind of fetch happens at most
once per ``min_refetch_interval``, so a flood of tokens with made-up ``kid``s costs the
issuer one request; concurrent misses wait for the same fetch.

Each key's algorithm is its JWK ``alg``, from an allow-list (RFC 8725 §3.1–3.2); a key
without one, or meant for encryption, or of the wrong kind or size for its ``alg``, is
ignored. Keys are parsed once into ``cryptography`` public keys, and signatures are checked
with ``cryptography`` directly (RFC 7518 §3.3–3.4, RFC 8037 §3.1).

The discovery document is kept too: the verifier finds the introspection, token and
revocation feed endpoints there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authgate_sdk.errors import IssuerUnavailable
from authgate_sdk.http import HttpClients

#: The algorithms AuthGate signs with (ES256 access tokens; RS256 and EdDSA beside it).
ALGORITHMS = frozenset({"ES256", "RS256", "EdDSA"})
DEFAULT_MAX_AGE = 300.0
_MAX_AGE_BOUNDS = (30.0, 86_400.0)
_MAX_AGE = re.compile(r"max-age=(\d+)")
log = logging.getLogger("authgate_sdk")


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SHA256 = hashes.SHA256()
_PKCS1 = padding.PKCS1v15()
_MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    alg: str
    key: Any  # a ``cryptography`` public key of the kind ``alg`` needs

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (as the JWS carries it) is valid for ``signing_input``."""
        try:
            if self.alg == "ES256":
                # RFC 7518 §3.4: R || S, 32 octets each; cryptography wants DER.
                if len(signature) != 64:
                    return False
                der = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
                self.key.verify(der, signing_input, _ECDSA_SHA256)
            elif self.alg == "RS256":
                self.key.verify(signature, signing_input, _PKCS1, _SHA256)
            else:  # EdDSA (RFC 8037 §3.1)
                self.key.verify(signature, signing_input)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def _fits(alg: str, key: Any) -> bool:
    """Whether ``key`` is the kind of key ``alg`` signs with (RFC 8725 §3.1)."""
    if alg == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    if alg == "RS256":
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS
    return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)


def parse_jwks(document: Any) -> dict[str, VerificationKey]:
    """The usable signing keys of a JWK Set, by ``kid``."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IssuerUnavailable("the JWK Set is malformed")
    keys: dict[str, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or alg not in ALGORITHMS or jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(jwk, algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.warning("ignoring JWK %s: %s", kid, exc)
            continue
        if not _fits(alg, parsed.key):
            log.warning("ignoring JWK %s: not a key for %s", kid, alg)
            continue
        keys[kid] = VerificationKey(kid, alg, parsed.key)
    return keys


def _max_age(response: httpx.Response) -> float:
    found = _MAX_AGE.search(response.headers.get("cache-control", ""))
    if found is None:
        return DEFAULT_MAX_AGE
    low, high = _MAX_AGE_BOUNDS
    return min(max(float(found.group(1)), low), high)


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        raise IssuerUnavailable(f"{what} answered {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise IssuerUnavailable(f"{what} is not JSON") from exc


class KeySet(HttpClients):
    """The issuer's published keys. Async and sync callers share the cache; each kind
    fetches with its own HTTP client."""

    def __init__(
        self,
        issuer: str,
        *,
        http: httpx.AsyncClient | httpx.Client | None = None,
        min_refetch_interval: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.issuer = issuer
        super().__init__(http, timeout)
        self._min_refetch = min_refetch_interval
        self._jwks_uri: str | None = None
        #: The discovery document, once fetched.
        self.metadata: dict[str, Any] = {}
        self._keys: dict[str, VerificationKey] = {}
        self._loaded = False
        self._stale_at = 0.0  # monotonic time after which the set is fetched again
        self._last_miss_fetch = -float("inf")
        self._alock = asyncio.Lock()
        self._tlock = threading.Lock()
        #: How many times the JWK Set was fetched (for health pages and tests).
        self.fetches = 0

    # -- lookups ------------------------------------------------------------------------

    def cached(self, kid: str) -> VerificationKey | None:
        """The key, when the cached set is fresh and holds it (no I/O)."""
        if self._loaded and time.monotonic() < self._stale_at:
            return self._keys.get(kid)
        return None

    async def aget(self, kid: str) -> VerificationKey | None:
        key = self.cached(kid)
        if key is not None:
            return key
        async with self._alock:
            if self._due(kid):
                await self._aload()
            return self._keys.get(kid)

    def get(self, kid: str) -> VerificationKey | None:
        key = self.cached(kid)
        if key is not None:
            return key
        with self._tlock:
            if self._due(kid):
                self._load()
            return self._keys.get(kid)

    def _due(self, kid: str) -> bool:
        """Whether to fetch the set before answering for ``kid`` (called under the lock):
        it is missing or stale, or lacks ``kid`` and no miss fetched it recently."""
        now = time.monotonic()
        if not self._loaded or now >= self._stale_at:
            return True
        if kid in self._keys or now - self._last_miss_fetch < self._min_refetch:
            return False
        self._last_miss_fetch = now
        return True

    # -- fetching -----------------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def _jwks_uri_from(self, response: httpx.Response) -> str:
        metadata = _json(response, "discovery")
        if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0 §4.3: the issuer must be exactly the one asked.
            raise IssuerUnavailable("the discovery document names another issuer")
        uri = metadata.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise IssuerUnavailable("the discovery document has no jwks_uri")
        self.metadata = metadata
        return uri

    def _endpoint(self, name: str) -> str:
        uri = self.metadata.get(name)
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise IssuerUnavailable(f"the discovery document has no {name}")
        return uri

    async def aendpoint(self, name: str) -> str:
        """The URL the discovery document gives for ``name`` (``introspection_endpoint``…),
        fetching the document first when needed."""
        if self._jwks_uri is None:
            async with self._alock:
                if self._jwks_uri is None:
                    try:
                        response = await self._async_client().get(self.discovery_url)
                        self._jwks_uri = self._jwks_uri_from(response)
                    except httpx.HTTPError as exc:
                        raise IssuerUnavailable(f"cannot fetch discovery: {exc}") from exc
        return self._endpoint(name)

    def endpoint(self, name: str) -> str:
        """:meth:`aendpoint` for synchronous code."""
        if self._jwks_uri is None:
            with self._tlock:
                if self._jwks_uri is None:
                    try:
                        response = self._sync_client().get(self.discovery_url)
                        self._jwks_uri = self._jwks_uri_from(response)
                    except httpx.HTTPError as exc:
                        raise IssuerUnavailable(f"cannot fetch discovery: {exc}") from exc
        return self._endpoint(name)

    def _store(self, response: httpx.Response) -> None:
        self._keys = parse_jwks(_json(response, "the JWK Set"))
        self._loaded = True
        self._stale_at = time.monotonic() + _max_age(response)
        self.fetches += 1

    def _failed(self, exc: Exception) -> None:
        if not self._loaded:
            raise IssuerUnavailable(f"cannot fetch the issuer's keys: {exc}") from exc
        # Keep verifying with the keys we have; try again after the refetch interval.
        log.warning("cannot refresh the issuer's keys (%s); keeping the cached set", exc)
        self._stale_at = time.monotonic() + self._min_refetch

    async def _aload(self) -> None:
        client = self._async_client()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._jwks_uri_from(await client.get(self.discovery_url))
            self._store(await client.get(self._jwks_uri))
        except (httpx.HTTPError, IssuerUnavailable) as exc:
            self._failed(exc)

    def _load(self) -> None:
        client = self._sync_client()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._jwks_uri_from(client.get(self.discovery_url))
            self._store(client.get(self._jwks_uri))
        except (httpx.HTTPError, IssuerUnavailable) as exc:
            self._failed(exc)
