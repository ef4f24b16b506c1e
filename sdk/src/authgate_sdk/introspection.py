"""RFC 7662 token introspection for the credentials a resource server cannot check by
itself: opaque access tokens (``agat_…``) and API keys (``agk_<id>_<secret>``).

Answers are cached by the whole credential for a short time: an active one for ``ttl``
(30 s by default) and never past its ``exp``, an inactive one for ``inactive_ttl`` (5 s),
so a flood of made-up keys costs the issuer one request per distinct key every few
seconds, not one per request. The revocation feed drops cached answers it makes stale.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from authgate_sdk.claims import Claims, CredentialKind
from authgate_sdk.errors import InvalidToken, IssuerUnavailable

log = logging.getLogger("authgate_sdk")

API_KEY_PREFIX = "agk_"
OPAQUE_PREFIX = "agat_"
#: What an opaque credential may look like before it is worth asking about: the prefix,
#: then base64url characters (and ``_``), at most 512 in all.
CREDENTIAL_SHAPE = re.compile(r"ag(?:k|at)_[A-Za-z0-9_-]{8,507}")


#: ``agk_<id>_<secret><checksum>``: a 12-character id, a 22-character secret and a
#: 6-character checksum, all base62.
_API_KEY = re.compile(r"agk_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def api_key_well_formed(key: str) -> bool:
    """Whether ``key`` has an API key's shape and its checksum (the CRC-32 of everything
    before it, in 6 base62 digits) matches: a mistyped, truncated or made-up key is
    refused here without asking AuthGate. CRC-32 catches typos; the secret is what
    authenticates, and only AuthGate can check it."""
    if not _API_KEY.fullmatch(key):
        return False
    number = zlib.crc32(key[:-6].encode("ascii"))
    digits = []
    for _ in range(6):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)) == key[-6:]


def network_allowed(claims: Claims, client_ip: str | None) -> bool:
    """Whether an API key limited to ``allowed_networks`` may be used from ``client_ip``
    (AuthGate reports the networks; the resource server that sees the caller checks)."""
    networks = claims.raw.get("allowed_networks")
    if not networks:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
        return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
    except (ValueError, TypeError):
        return False


def api_key_id(key: str) -> str | None:
    """The id of an API key ``agk_<id>_<secret+checksum>`` (between the first two ``_``)."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, _ = key[len(API_KEY_PREFIX) :].partition("_")
    return key_id if sep and key_id else None


class Introspector:
    """Asks the issuer's introspection endpoint about a credential, with a short cache.

    ``endpoint`` returns the endpoint's URL (from discovery), ``aendpoint`` likewise for
    async callers; ``clock`` is the time in seconds since the epoch."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        client_id: str,
        client_secret: str,
        aendpoint: Callable[[], Any],
        endpoint: Callable[[], str],
        async_client: Callable[[], httpx.AsyncClient],
        sync_client: Callable[[], httpx.Client],
        ttl: float = 30.0,
        inactive_ttl: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._aendpoint = aendpoint
        self._endpoint = endpoint
        self._async_client = async_client
        self._sync_client = sync_client
        self.ttl = ttl
        self.inactive_ttl = inactive_ttl
        self._max = max_entries
        self._clock = clock
        # credential -> (claims or the refusal reason, cached until (epoch seconds))
        self._cache: dict[str, tuple[Claims | str, float]] = {}
        self._inflight: dict[str, asyncio.Future[Claims | str]] = {}
        self._tlock = threading.Lock()
        self._distrusted: dict[str, float] = {}  # subject or client id -> until (monotonic)
        #: How many requests went to the introspection endpoint (for health and tests).
        self.requests = 0

    # -- the cache -----------------------------------------------------------------------

    def cached(self, token: str) -> Claims | None:
        """The cached answer, when fresh: claims, or :class:`InvalidToken` raised."""
        entry = self._cache.get(token)
        if entry is None:
            return None
        answer, until = entry
        if self._clock() >= until:
            self._cache.pop(token, None)
            return None
        if isinstance(answer, str):
            raise InvalidToken(answer)
        return answer

    def forget(self, matches: Callable[[str, Claims], bool]) -> int:
        """Drop cached answers ``matches(credential, claims)`` says are stale."""
        dropped = 0
        for token, (answer, _) in list(self._cache.items()):
            if isinstance(answer, Claims) and matches(token, answer):
                self._cache.pop(token, None)
                dropped += 1
        return dropped

    def distrust(self, holder: str, seconds: float = 5.0) -> None:
        """Cache no active answer about ``holder``'s credentials (its ``sub`` or
        ``client_id``) for ``seconds``: AuthGate has just ended its access, and an answer
        it gives in the meantime may come from a cache of its own."""
        now = time.monotonic()
        for old, until in list(self._distrusted.items()):
            if until <= now:
                self._distrusted.pop(old, None)
        self._distrusted[holder] = now + seconds

    def _trusted(self, claims: Claims) -> bool:
        if not self._distrusted:
            return True
        now = time.monotonic()
        return all(
            self._distrusted.get(holder, 0.0) <= now
            for holder in (claims.subject, claims.client_id)
            if holder is not None
        )

    def clear(self) -> None:
        self._cache.clear()

    def _remember(self, token: str, answer: Claims | str, ttl: float) -> None:
        if len(self._cache) >= self._max:
            now = self._clock()
            for old, (_, until) in list(self._cache.items()):
                if until <= now:
                    self._cache.pop(old, None)
            if len(self._cache) >= self._max:  # still full: drop the oldest quarter
                for old in list(itertools.islice(self._cache, self._max // 4 + 1)):
                    self._cache.pop(old, None)
        self._cache[token] = (answer, self._clock() + ttl)

    # -- asking --------------------------------------------------------------------------

    async def aintrospect(self, token: str, kind: CredentialKind) -> Claims:
        """Claims of ``token``, from the cache or the issuer; concurrent requests for the
        same credential share one call."""
        found = self.cached(token)
        if found is not None:
            return found
        pending = self._inflight.get(token)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._inflight[token] = pending
            try:
                answer = await self._aask(token, kind)
                pending.set_result(answer)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: no "never retrieved" warning
                raise
            finally:
                del self._inflight[token]
        else:
            answer = await asyncio.shield(pending)
        if isinstance(answer, str):
            raise InvalidToken(answer)
        return answer

    def introspect(self, token: str, kind: CredentialKind) -> Claims:
        """:meth:`aintrospect` for synchronous code."""
        found = self.cached(token)
        if found is not None:
            return found
        answer = self._ask(token, kind)
        if isinstance(answer, str):
            raise InvalidToken(answer)
        return answer

    async def _aask(self, token: str, kind: CredentialKind) -> Claims | str:
        url = await self._aendpoint()
        try:
            response = await self._async_client().post(
                url, data={"token": token}, auth=self._auth, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise IssuerUnavailable(f"introspection failed: {exc}") from exc
        return self._judge(token, kind, response)

    def _ask(self, token: str, kind: CredentialKind) -> Claims | str:
        url = self._endpoint()
        try:
            response = self._sync_client().post(
                url, data={"token": token}, auth=self._auth, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise IssuerUnavailable(f"introspection failed: {exc}") from exc
        return self._judge(token, kind, response)

    def _judge(self, token: str, kind: CredentialKind, response: httpx.Response) -> Claims | str:
        """Claims, or the reason the credential is refused; caches either."""
        self.requests += 1
        if response.status_code != 200:
            if response.status_code in (400, 401):
                log.error(
                    "the introspection endpoint refused this verifier's client credentials "
                    "(%s): check client_id and client_secret",
                    response.status_code,
                )
            raise IssuerUnavailable(f"introspection answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise IssuerUnavailable("introspection answered something that is not JSON") from exc
        if not isinstance(body, dict):
            raise IssuerUnavailable("introspection answered something that is not an object")
        reason = self._refusal(body, kind)
        if reason is not None:
            self._remember(token, reason, self.inactive_ttl)
            return reason
        claims = Claims.from_introspection(body, kind)
        ttl = self.ttl
        exp = body.get("exp")
        if isinstance(exp, int | float):
            ttl = min(ttl, exp - self._clock())
        if ttl > 0 and self._trusted(claims):
            self._remember(token, claims, ttl)
        return claims

    def _refusal(self, body: Mapping[str, Any], kind: CredentialKind) -> str | None:
        """Why an introspection answer does not let the credential in, or None.
        RFC 7662 §2.2: ``active`` is the answer; the rest is checked like a JWT's claims."""
        if body.get("active") is not True:
            return "inactive"
        token_type = body.get("token_type")
        if kind == "api_key":
            if token_type != "api_key":
                return "not an API key"
        elif token_type == "api_key" or token_type == "refresh_token":
            # RFC 6749 §1.5: a refresh token is never sent to a resource server.
            return "not an access token"
        iss = body.get("iss")
        if iss is not None and iss != self.issuer:
            return "wrong issuer"
        aud = body.get("aud")
        if aud is not None and not (
            aud == self.audience or (isinstance(aud, list) and self.audience in aud)
        ):
            return "wrong audience"
        if kind != "api_key" and aud is None:
            return "wrong audience"  # an access token is always for some API
        exp = body.get("exp")
        if exp is not None:
            if not isinstance(exp, int | float) or isinstance(exp, bool):
                return "malformed claim"
            if self._clock() >= exp:
                return "expired"
        if not isinstance(body.get("sub") or body.get("client_id"), str):
            return "missing claim"
        return None
