"""Verification of AuthGate credentials: JWT access tokens locally (RFC 9068 §4 with the
RFC 8725 rules), opaque access tokens and API keys by introspection (RFC 7662).

The JWT checks, cheapest first; any failure is :class:`InvalidToken` with a short reason:

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
   ``exp``, ``iat``, ``jti`` and ``client_id`` are present (RFC 9068 §2.2);
6. the revocation feed, when followed, has not revoked it.

A header segment seen before is not parsed again (a bounded memo of the few headers an
issuer produces), and with ``cache_size`` set a token verified once is answered from
memory until it expires, ``cache_ttl`` passes, or the feed revokes it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import httpx

from authgate_sdk.claims import Claims, CredentialKind
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.feed import RevocationEvent, RevocationFeed, Revocations, event_matches
from authgate_sdk.introspection import (
    API_KEY_PREFIX,
    CREDENTIAL_SHAPE,
    OPAQUE_PREFIX,
    Introspector,
    api_key_id,
    api_key_well_formed,
    network_allowed,
)
from authgate_sdk.keys import KeySet, VerificationKey

MAX_TOKEN_LENGTH = 16_384
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_HEADER_MEMO = 64
FallbackPolicy = Literal["short_cache", "introspect"]
log = logging.getLogger("authgate_sdk")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(head: str) -> tuple[str, str]:
    """The ``kid`` and ``alg`` of a JWS header segment, after the header checks."""
    try:
        header = json.loads(_b64(head))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("not an access token")
    kid, alg = header.get("kid"), header.get("alg")
    if "crit" in header or not isinstance(kid, str) or not isinstance(alg, str):
        raise InvalidToken("unsupported header")
    return kid, alg


class TokenVerifier:
    """Verifies credentials AuthGate at ``issuer`` issued for ``audience``.

    ``http`` is the client keys are fetched with (an ``httpx.AsyncClient`` for
    :meth:`averify`, an ``httpx.Client`` for :meth:`verify`); by default the verifier
    makes its own. ``clock`` returns the current time in seconds since the epoch.

    ``client_id`` / ``client_secret`` are this API's confidential client at AuthGate
    (``client_secret_basic``): needed for opaque tokens and API keys (introspection) and
    for following the revocation feed.

    ``cache_size`` > 0 turns on the verification cache (that many tokens at most), each
    answer kept until the token's ``exp`` or ``cache_ttl`` seconds, whichever is first.

    When the feed has been unreachable for longer than ``feed_grace`` seconds,
    ``fallback`` applies: ``"short_cache"`` (the default) keeps verifying locally but
    keeps cached answers at most ``short_cache_ttl`` seconds; ``"introspect"`` asks
    AuthGate about every JWT too (through the introspection cache).
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
        client_id: str | None = None,
        client_secret: str | None = None,
        cache_size: int = 0,
        cache_ttl: float = 60.0,
        introspection_ttl: float = 30.0,
        inactive_ttl: float = 5.0,
        introspection_cache_size: int = 10_000,
        fallback: FallbackPolicy = "short_cache",
        feed_grace: float = 5.0,
        short_cache_ttl: float = 2.0,
    ) -> None:
        if fallback not in ("short_cache", "introspect"):
            raise ValueError("fallback is 'short_cache' or 'introspect'")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.keys = KeySet(issuer, http=http, min_refetch_interval=min_refetch_interval)
        self._clock = clock
        self.client_id = client_id
        self._client_secret = client_secret
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        self.fallback: FallbackPolicy = fallback
        self.feed_grace = feed_grace
        self.short_cache_ttl = short_cache_ttl
        # token -> (claims, good until (epoch s), cached at (epoch s))
        self._cache: dict[str, tuple[Claims, float, float]] = {}
        self._headers: dict[str, tuple[str, str]] = {}
        self._generation = 0  # bumped by every revocation: answers older than it are stale
        self.revocations: Revocations | None = None
        self.feed: RevocationFeed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self.introspector: Introspector | None = None
        if client_id is not None and client_secret is not None:
            self.introspector = Introspector(
                issuer=issuer,
                audience=audience,
                client_id=client_id,
                client_secret=client_secret,
                aendpoint=lambda: self.keys.aendpoint("introspection_endpoint"),
                endpoint=lambda: self.keys.endpoint("introspection_endpoint"),
                async_client=self.keys._async_client,
                sync_client=self.keys._sync_client,
                ttl=introspection_ttl,
                inactive_ttl=inactive_ttl,
                max_entries=introspection_cache_size,
                clock=clock,
            )

    # -- verifying -----------------------------------------------------------------------

    async def averify(
        self, token: str, permission: str | None = None, *, client_ip: str | None = None
    ) -> Claims:
        """The claims of ``token`` (a JWT access token, an opaque access token or an API
        key); raises :class:`InvalidToken`, or :class:`InsufficientScope` when it lacks
        ``permission``, or :class:`IssuerUnavailable` when AuthGate must be asked and
        cannot be. ``client_ip`` is the caller's address, checked against an API key's
        allowed networks (a key limited to networks is refused without it)."""
        entry = self._cache.get(token)
        if entry is not None:
            claims = self._fresh(entry)
            if claims is not None:
                if permission is not None and not claims.has(permission):
                    raise InsufficientScope(permission)
                return claims
        kind = _opaque_kind(token)
        if kind is not None:
            claims = await self._introspection(kind).aintrospect(token, kind)
            self._check_introspected(claims, client_ip)
        else:
            generation = self._generation
            kid, alg, signing_input, signature, payload = self._split(token)
            key = self.keys.cached(kid) or await self.keys.aget(kid)
            claims = self._finish(key, alg, signing_input, signature, payload)
            if self._introspecting():
                await self._introspection("jwt").aintrospect(token, "jwt")
            else:
                self._remember(token, claims, generation)
        if permission is not None and not claims.has(permission):
            raise InsufficientScope(permission)
        return claims

    def verify(
        self, token: str, permission: str | None = None, *, client_ip: str | None = None
    ) -> Claims:
        """:meth:`averify` for synchronous code (blocking on a key fetch or an
        introspection request when one is due)."""
        entry = self._cache.get(token)
        if entry is not None:
            claims = self._fresh(entry)
            if claims is not None:
                if permission is not None and not claims.has(permission):
                    raise InsufficientScope(permission)
                return claims
        kind = _opaque_kind(token)
        if kind is not None:
            claims = self._introspection(kind).introspect(token, kind)
            self._check_introspected(claims, client_ip)
        else:
            generation = self._generation
            kid, alg, signing_input, signature, payload = self._split(token)
            key = self.keys.cached(kid) or self.keys.get(kid)
            claims = self._finish(key, alg, signing_input, signature, payload)
            if self._introspecting():
                self._introspection("jwt").introspect(token, "jwt")
            else:
                self._remember(token, claims, generation)
        if permission is not None and not claims.has(permission):
            raise InsufficientScope(permission)
        return claims

    def _split(self, token: str) -> tuple[str, str, bytes, bytes, str]:
        """``kid``, ``alg``, signing input, signature and payload segment of a compact JWS."""
        if (
            not isinstance(token, str)
            or len(token) > MAX_TOKEN_LENGTH
            or not _COMPACT.fullmatch(token)
        ):
            raise InvalidToken("malformed token")
        head, payload, signature = token.split(".")
        known = self._headers.get(head)
        if known is None:
            known = _header(head)
            if len(self._headers) >= _HEADER_MEMO:
                self._headers.clear()
            self._headers[head] = known
        try:
            raw_signature = _b64(signature)
        except (ValueError, binascii.Error) as exc:
            raise InvalidToken("malformed token") from exc
        return known[0], known[1], f"{head}.{payload}".encode("ascii"), raw_signature, payload

    def _finish(
        self,
        key: VerificationKey | None,
        alg: str,
        signing_input: bytes,
        signature: bytes,
        payload: str,
    ) -> Claims:
        if key is None:
            raise InvalidToken("unknown signing key")
        if alg != key.alg:
            raise InvalidToken("algorithm not allowed")
        if not key.verify(signing_input, signature):
            raise InvalidToken("bad signature")
        claims = self._check(payload)
        revocations = self.revocations
        if revocations is not None and revocations.refuses(claims):
            raise InvalidToken("revoked")
        return Claims.from_payload(claims)

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
        sub, jti, client_id = claims["sub"], claims["jti"], claims["client_id"]
        if not (isinstance(sub, str) and isinstance(jti, str) and isinstance(client_id, str)):
            raise InvalidToken("malformed claim")
        if not isinstance(claims.get("scope", ""), str):
            raise InvalidToken("malformed claim")
        now = self._clock()
        if now >= exp + self.leeway:
            raise InvalidToken("expired")
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise InvalidToken("not yet valid")
        return claims

    # -- the verification cache ----------------------------------------------------------

    def _fresh(self, entry: tuple[Claims, float, float]) -> Claims | None:
        """The cached claims while still good: before the token's expiry and the cache
        TTL, and — with the feed out of reach under ``short_cache`` — younger than
        ``short_cache_ttl``; under ``introspect`` the cache is not used then."""
        now = self._clock()
        if now >= entry[1]:
            return None
        feed = self.feed
        if (
            feed is not None
            and not feed.connected
            and feed.down_for(self.feed_grace)
            and (self.fallback == "introspect" or now - entry[2] >= self.short_cache_ttl)
        ):
            return None
        return entry[0]

    def _remember(self, token: str, claims: Claims, generation: int) -> None:
        if self.cache_size <= 0 or generation != self._generation:
            return  # a revocation arrived while verifying: do not keep a stale answer
        now = self._clock()
        exp = claims.raw["exp"]
        until = min(exp, now + self.cache_ttl)
        cache = self._cache
        if len(cache) >= self.cache_size:
            for old, (_, good_until, _) in list(cache.items()):
                if good_until <= now:
                    cache.pop(old, None)
            if len(cache) >= self.cache_size:  # still full: drop the oldest quarter
                for old in list(itertools.islice(cache, self.cache_size // 4 + 1)):
                    cache.pop(old, None)
        cache[token] = (claims, until, now)

    def clear_cache(self) -> None:
        self._cache.clear()
        if self.introspector is not None:
            self.introspector.clear()

    # -- introspection -------------------------------------------------------------------

    def _introspection(self, kind: CredentialKind) -> Introspector:
        if self.introspector is None:
            log.warning(
                "an %s credential arrived but the verifier has no client credentials to "
                "introspect it with (TokenVerifier(client_id=..., client_secret=...))",
                kind,
            )
            raise InvalidToken("cannot introspect without client credentials")
        return self.introspector

    def _check_introspected(self, claims: Claims, client_ip: str | None) -> None:
        """What AuthGate leaves to the resource server: an API key's allowed networks; and
        what the feed already said — AuthGate may answer from a cache for a moment after
        it records a revocation, so the feed's word wins."""
        revocations = self.revocations
        if revocations is not None and len(revocations):
            if claims.kind == "api_key":
                if claims.key_id is not None and claims.key_id in revocations.apikey:
                    raise InvalidToken("revoked")
            elif revocations.refuses(claims.raw):
                raise InvalidToken("revoked")
        if not network_allowed(claims, client_ip):
            raise InvalidToken("not allowed from this network")

    def _introspecting(self) -> bool:
        """Whether JWTs must be introspected too: the feed is out of reach and the
        fallback policy says so."""
        feed = self.feed
        return (
            self.fallback == "introspect"
            and feed is not None
            and not feed.connected
            and feed.down_for(self.feed_grace)
        )

    # -- the revocation feed -------------------------------------------------------------

    def _make_feed(self, url: str, **options: Any) -> RevocationFeed:
        if self.client_id is None or self._client_secret is None:
            raise ValueError("following the revocation feed needs client_id and client_secret")
        if self.feed is None:
            self.feed = RevocationFeed(url, self.client_id, self._client_secret, **options)
            self.revocations = self.feed.revocations
            self.feed.listeners.append(self._revoked)
        return self.feed

    async def start_feed(self, url: str | None = None, **options: Any) -> RevocationFeed:
        """Follow the revocation feed from an asyncio task (until :meth:`aclose`). ``url``
        defaults to discovery's ``revocation_feed_endpoint`` (looked up by the task, so an
        issuer down at start-up delays the feed, not the application); ``options`` go to
        :class:`RevocationFeed` (backoff, timeouts)."""
        if self._feed_task is not None and not self._feed_task.done():
            assert self.feed is not None
            return self.feed
        feed = self._make_feed(url or "", **options)
        self._feed_task = asyncio.get_running_loop().create_task(
            self._follow(feed), name="authgate-revocation-feed"
        )
        return feed

    async def _follow(self, feed: RevocationFeed) -> None:
        feed.started = True
        while not feed.url:
            try:
                feed.url = await self.keys.aendpoint("revocation_feed_endpoint")
            except IssuerUnavailable as exc:
                await asyncio.sleep(feed.lost(exc))
        await feed.run()

    def start_feed_thread(self, url: str | None = None, **options: Any) -> RevocationFeed:
        """Follow the revocation feed from a daemon thread (synchronous applications)."""
        feed = self._make_feed(url or "", **options)
        feed.start_thread(lambda: self.keys.endpoint("revocation_feed_endpoint"))
        return feed

    async def wait_for_feed(self, within: float = 10.0) -> bool:
        """Wait until the feed is connected and caught up; whether it is."""
        deadline = time.monotonic() + within
        while self.feed is not None and not self.feed.connected:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return self.feed is not None

    def _revoked(self, event: RevocationEvent) -> None:
        """Drop cached answers the event makes stale (called by the feed)."""
        self._generation += 1
        if event.kind != "apikey":
            for token, (claims, _, _) in list(self._cache.items()):
                if event_matches(event, claims.raw, None):
                    self._cache.pop(token, None)
        if self.introspector is not None:
            self.introspector.forget(
                lambda token, claims: event_matches(
                    event, claims.raw, claims.key_id or api_key_id(token)
                )
            )
            if event.kind in ("user", "client"):
                # AuthGate's answers about this user's or client's API keys may lag its
                # feed by a moment: do not cache them for a while.
                self.introspector.distrust(event.value)

    def health(self) -> dict[str, Any]:
        """How verification is doing, for a health endpoint: whether the revocation feed
        is followed and connected, when its last event came, how long since AuthGate was
        last heard from, and whether the fallback policy is in force."""
        feed = self.feed
        body: dict[str, Any] = {
            "keys_loaded": bool(self.keys._loaded),
            "feed": "off",
            "feed_connected": False,
            "last_event_at": None,
            "last_seq": None,
            "seconds_since_contact": None,
            "revocations": 0,
            "fallback": self.fallback,
            "fallback_active": False,
            "cached_tokens": len(self._cache),
        }
        if feed is None:
            return body
        down = feed.down_for(self.feed_grace)
        body.update(
            feed="connected" if feed.connected else ("unreachable" if down else "connecting"),
            feed_connected=feed.connected,
            last_event_at=feed.last_event_at,
            last_seq=feed.last_seq,
            seconds_since_contact=round(feed.seconds_since_contact(), 3),
            revocations=len(feed.revocations),
            fallback_active=down,
            last_error=None if feed.connected else feed.last_error,
        )
        return body

    # -- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        task, self._feed_task = self._feed_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.feed is not None:
            self.feed.stop_thread()
        await self.keys.aclose()

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop_thread()
        self.keys.close()

    async def __aenter__(self) -> TokenVerifier:
        """``async with verifier:`` follows the revocation feed while inside (when client
        credentials are given) and closes the verifier's clients on the way out."""
        if self.client_id is not None and self._client_secret is not None:
            await self.start_feed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _opaque_kind(token: str) -> CredentialKind | None:
    """``api_key`` / ``opaque`` for credentials only introspection can check."""
    if token.startswith(API_KEY_PREFIX):
        if not api_key_well_formed(token):
            raise InvalidToken("malformed API key")
        return "api_key"
    if token.startswith(OPAQUE_PREFIX):
        if not CREDENTIAL_SHAPE.fullmatch(token):
            raise InvalidToken("malformed token")
        return "opaque"
    return None
