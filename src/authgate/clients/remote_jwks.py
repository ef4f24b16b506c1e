"""Clients' JWK Sets fetched from their ``jwks_uri``, for ``private_key_jwt``.

RFC 7523 §3 item 9 and OpenID Connect Core §9: a client assertion is verified with the
client's registered keys, which the client may publish at a ``jwks_uri``. OpenID Connect
Core §10.1.1: a client rotates its key by publishing the new one, and the verifier fetches
the set again when an assertion names a ``kid`` it does not know.

Whoever registers a client chooses that URI, so the fetch is a server-side request an
outsider may try to aim at AuthGate's own network (OWASP Server-Side Request Forgery
Prevention Cheat Sheet; PRODUCT §7: nothing is fetched from loopback, link-local or
private addresses unless the configuration allows it):

- https only; plain http too when private addresses are allowed (development, tests);
- the host is resolved here and *every* address it resolves to must be public: no
  loopback, private (RFC 1918, RFC 6598), link-local (169.254.0.0/16, with the cloud
  metadata address 169.254.169.254), unique-local IPv6, multicast, unspecified or reserved
  address, also when an IPv6 address carries an IPv4 one (mapped, 6to4, Teredo, NAT64).
  ``jwks_uri_allow_private_addresses`` turns this check off;
- the connection goes to the address that was checked: the URL's host is replaced by
  that address while ``Host`` and the TLS server name stay the registered host, so the
  certificate is still verified for it and a DNS answer that changes between check and
  connect (DNS rebinding) is never used. No proxy from the environment, no redirects, no
  pooled connection (a kept-alive one would be verified for another name);
- 3 s for the whole fetch (resolution included), 64 KiB at most, no content encoding; the
  body must be a JWK Set (RFC 7517 §5). Keys that registration would refuse (private,
  symmetric, encryption-only, short RSA) are dropped.

Sets are cached per URI for ``ttl`` (5 minutes). An assertion with an unknown ``kid``
fetches again, but at most once per ``min_interval`` (30 s) per URI, so a stream of
made-up ``kid`` values costs the client's server one request per interval; concurrent
requests for one URI share one fetch, and a failed fetch is remembered for the same
interval. The cache is per process and bounded (``max_uris``), with bounded staleness
(PRODUCT §8).
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from authgate.clients.validation import MAX_KEYS, check_jwks
from authgate.clock import Clock
from authgate.errors import InvalidInput
from authgate.protocol.ports import KeySetUnavailable

FETCH_TIMEOUT_SECONDS = 3.0
MAX_BYTES = 64 * 1024
CACHE_TTL = timedelta(minutes=5)
MIN_INTERVAL = timedelta(seconds=30)
MAX_URIS = 1000

Address = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port)`` → the addresses to connect to, as strings."""

_NAT64 = ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ip_network("fc00::/7")


def address_problem(address: Address) -> str | None:
    """Why AuthGate must not connect to ``address`` (a word for the log), or None when
    it is a public unicast address."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        inner_problem = address_problem(inner) if inner is not None else None
        if inner_problem is not None:
            return f"{inner_problem} (as {inner})"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", address in _UNIQUE_LOCAL),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("site-local", isinstance(address, IPv6Address) and address.is_site_local),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class _Entry:
    tried_at: datetime
    """When the last fetch started, successful or not."""
    keys: Mapping[str, Any] | None
    """The last set fetched successfully (kept through a failed refresh)."""
    fetched_at: datetime | None
    error: str | None
    """Why the last fetch failed; None when it succeeded."""


class RemoteJwks:
    """The engine's ``RemoteKeySets`` port: JWK Sets fetched from ``jwks_uri``."""

    def __init__(
        self,
        clock: Clock,
        *,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        ttl: timedelta = CACHE_TTL,
        min_interval: timedelta = MIN_INTERVAL,
        max_uris: int = MAX_URIS,
    ) -> None:
        self._clock = clock
        self._allow_private = allow_private
        self._resolve = resolve
        self._ttl = ttl
        self._min_interval = min_interval
        self._max_uris = max_uris
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._fetching: dict[str, asyncio.Task[_Entry]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def get(self, uri: str, *, refresh: bool = False) -> Mapping[str, Any]:
        entry = self._entries.get(uri)
        if entry is not None:
            self._entries.move_to_end(uri)
            now = self._clock.now()
            if not refresh and entry.keys is not None and self._fresh(entry, now):
                return entry.keys
            if now - entry.tried_at < self._min_interval:
                return self._answer(entry)
        return self._answer(await self._fetch_shared(uri))

    def _fresh(self, entry: _Entry, now: datetime) -> bool:
        return entry.fetched_at is not None and now - entry.fetched_at < self._ttl

    def _answer(self, entry: _Entry) -> Mapping[str, Any]:
        if entry.keys is not None and self._fresh(entry, self._clock.now()):
            return entry.keys
        raise KeySetUnavailable(entry.error or "the cached key set has expired")

    async def _fetch_shared(self, uri: str) -> _Entry:
        """One fetch per URI at a time; it finishes even if the request that started it
        is cancelled, because others may be waiting for it."""
        task = self._fetching.get(uri)
        if task is None:
            task = asyncio.create_task(self._fetch(uri))
            self._fetching[uri] = task
            task.add_done_callback(lambda done: self._forget(uri, done))
        return await asyncio.shield(task)

    def _forget(self, uri: str, task: asyncio.Task[_Entry]) -> None:
        if self._fetching.get(uri) is task:
            del self._fetching[uri]

    async def _fetch(self, uri: str) -> _Entry:
        started = self._clock.now()
        previous = self._entries.get(uri)
        try:
            keys = _key_set(await self._download(uri))
            entry = _Entry(started, keys, started, None)
        except KeySetUnavailable as exc:
            entry = _Entry(
                started,
                previous.keys if previous else None,
                previous.fetched_at if previous else None,
                f"{uri}: {exc}",
            )
        self._entries[uri] = entry
        self._entries.move_to_end(uri)
        while len(self._entries) > self._max_uris:
            self._entries.popitem(last=False)
        return entry

    async def _download(self, uri: str) -> bytes:
        parts = urlsplit(uri)
        if parts.scheme != "https" and not (parts.scheme == "http" and self._allow_private):
            raise KeySetUnavailable("only https jwks_uri values are fetched")
        host = parts.hostname
        if not host or parts.username is not None or parts.password is not None:
            raise KeySetUnavailable("the jwks_uri needs a host and no user information")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                address = await self._checked_address(host, port)
                return await self._get(uri, parts.netloc, host, address)
        except KeySetUnavailable:
            raise
        except TimeoutError:
            raise KeySetUnavailable(f"no answer within {FETCH_TIMEOUT_SECONDS:g} s") from None
        except Exception as exc:  # whatever the network does, the client fails to authenticate
            raise KeySetUnavailable(f"fetch failed: {type(exc).__name__}: {exc}") from None

    async def _checked_address(self, host: str, port: int) -> Address:
        """Every address ``host`` resolves to must be public (a name that resolves to a
        public and a private address is refused); the first one is used."""
        try:
            found = [ip_address(a) for a in await self._resolve(host, port)]
        except OSError as exc:
            raise KeySetUnavailable(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise KeySetUnavailable(f"{host} resolves to no address")
        if not self._allow_private:
            for address in found:
                problem = address_problem(address)
                if problem is not None:
                    raise KeySetUnavailable(
                        f"{host} resolves to {address}, a {problem} address; AuthGate "
                        "fetches only from public addresses (jwks_uri_allow_private_addresses)"
                    )
        return found[0]

    async def _get(self, uri: str, netloc: str, host: str, address: Address) -> bytes:
        url = httpx.URL(uri).copy_with(host=str(address))
        headers = {
            "Host": netloc,
            "Accept": "application/jwk-set+json, application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "AuthGate",
        }
        https = url.scheme == "https"
        named = https and host != str(address) and not _is_ip(host)
        extensions = {"sni_hostname": host} if named else {}
        async with (
            httpx.AsyncClient(
                verify=self._ssl_context(),
                trust_env=False,
                follow_redirects=False,
                timeout=FETCH_TIMEOUT_SECONDS,
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client,
            client.stream("GET", url, headers=headers, extensions=extensions) as response,
        ):
            if response.status_code != 200:
                moved = " (redirects are not followed)" if response.is_redirect else ""
                raise KeySetUnavailable(f"answered HTTP {response.status_code}{moved}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise KeySetUnavailable("the key set came with a content encoding")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BYTES:
                raise KeySetUnavailable(f"the key set is larger than {MAX_BYTES // 1024} KiB")
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise KeySetUnavailable(f"the key set is larger than {MAX_BYTES // 1024} KiB")
        return bytes(body)

    def _ssl_context(self) -> ssl.SSLContext:
        """The system's trust store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured, for an
        internal CA) plus the public CAs of ``certifi``."""
        if self._ssl is None:
            context = ssl.create_default_context()
            context.load_verify_locations(cafile=certifi.where())
            self._ssl = context
        return self._ssl


def _is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _key_set(body: bytes) -> Mapping[str, Any]:
    """RFC 7517 §5: an object with a ``keys`` array. Each key is checked as registration
    checks an inline set; keys that fail are left out, and at least one must remain."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise KeySetUnavailable("the answer is not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeySetUnavailable('the answer is not a JWK Set (no "keys" array)')
    if len(keys) > MAX_KEYS:
        raise KeySetUnavailable(f"the key set holds more than {MAX_KEYS} keys")
    usable = []
    for key in keys:
        try:
            usable.extend(check_jwks({"keys": [key]})["keys"])
        except InvalidInput:
            continue
    if not usable:
        raise KeySetUnavailable("the key set holds no usable public signature key")
    return {"keys": usable}
