"""Fetching a client's JWK Set from its ``jwks_uri`` (OpenID Connect Core §9 and §10.1.1,
RFC 7523 §3 item 9) without becoming a server-side request forgery tool (OWASP SSRF
Prevention Cheat Sheet; PRODUCT §7). Every fetch goes to a real server on 127.0.0.1.

:class:`JwksServer` and :class:`LocalCa` are also used by the conformance tests in
``tests/conformance/test_rfc7523_private_key_jwt.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from joserfc.jwk import ECKey

from authgate.clients import remote_jwks
from authgate.clients.remote_jwks import RemoteJwks, address_problem
from authgate.clock import FrozenClock
from authgate.protocol.ports import KeySetUnavailable

# -- a real key-set server ------------------------------------------------------------


class JwksServer:
    """A client's key server on 127.0.0.1 (http, or https with ``tls``): publishes a JWK
    Set, or answers whatever a test sets, and counts connections and requests."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes | None = None
        """Sent instead of the key set when set."""
        self.headers: dict[str, str] = {"Content-Type": "application/jwk-set+json"}
        self.delay = 0.0
        self.connections = 0
        self.hosts: list[str] = []
        """The ``Host`` header of every request, in order."""
        self._lock = threading.Lock()
        self._httpd = _CountingServer(("127.0.0.1", 0), _handler_for(self), self)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/jwks.json"

    @property
    def requests(self) -> int:
        return len(self.hosts)

    def publish(self, *keys: ECKey) -> None:
        self.keys = [key.as_dict(private=False) for key in keys]

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def _requested(self, host: str) -> None:
        with self._lock:
            self.hosts.append(host)


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, owner: JwksServer) -> None:
        super().__init__(address, handler)
        self.owner = owner

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner._connected()
        return True


def _handler_for(server: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server._requested(self.headers.get("Host", ""))
            time.sleep(server.delay)
            body = server.body
            if body is None:
                body = json.dumps({"keys": server.keys}).encode()
            self.send_response(server.status)
            for name, value in server.headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the fetcher hung up (size cap, timeout)
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass(frozen=True)
class LocalCa:
    """A certificate authority made for one test run and a server certificate it issued
    for ``names`` (DNS names, or IP addresses)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    @classmethod
    def create(cls, directory: Path, names: Sequence[str]) -> LocalCa:
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AuthGate test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = []
        for name in names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt_names.append(x509.DNSName(name))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        ca = cls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
        ca.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return ca


# -- fixtures -------------------------------------------------------------------------

NAME = "jwks.example.test"


def _key() -> ECKey:
    key = ECKey.generate_key("P-256")
    key.ensure_kid()
    return key


@pytest.fixture
def server() -> Iterator[JwksServer]:
    started = JwksServer().start()
    started.publish(_key())
    yield started
    started.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def _pinned(address: str) -> Any:
    """A resolver that answers ``address`` for every name, as a DNS server would."""

    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


# -- which addresses are refused ------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback (as 127.0.0.1)"),
        ("::ffff:169.254.169.254", "link-local (as 169.254.169.254)"),
        ("2002:a00:1::", "private (as 10.0.0.1)"),
        ("64:ff9b::a9fe:a9fe", "link-local (as 169.254.169.254)"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
    ids=[
        "loopback-v4",
        "loopback-v6",
        "rfc1918-10",
        "rfc1918-172",
        "rfc1918-192",
        "cloud-metadata",
        "link-local-v6",
        "unique-local-v6",
        "multicast-v4",
        "multicast-v6",
        "unspecified-v4",
        "unspecified-v6",
        "reserved",
        "shared-cgnat",
        "mapped-loopback",
        "mapped-metadata",
        "6to4-private",
        "nat64-metadata",
        "public-v4",
        "public-v6",
    ],
)
def test_address_classification(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


async def test_loopback_is_refused_without_a_request(
    server: JwksServer, clock: FrozenClock
) -> None:
    """Default: 127.0.0.1 is never contacted (plain http is refused first; the address
    check is shown with a public-looking name that resolves to loopback)."""
    fetcher = RemoteJwks(clock, allow_private=False, resolve=_pinned("127.0.0.1"))
    with pytest.raises(KeySetUnavailable, match="only https"):
        await fetcher.get(server.url)
    named = f"https://{NAME}:{server.port}/jwks.json"
    with pytest.raises(KeySetUnavailable, match=re.escape("127.0.0.1, a loopback address")):
        await fetcher.get(named)
    assert server.connections == 0


async def test_a_name_with_any_private_address_is_refused(
    server: JwksServer, clock: FrozenClock
) -> None:
    """Every address the name resolves to is checked, not only the first."""

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    fetcher = RemoteJwks(clock, allow_private=False, resolve=resolve)
    with pytest.raises(KeySetUnavailable, match=re.escape("10.0.0.7, a private address")):
        await fetcher.get(f"https://{NAME}/jwks.json")


async def test_the_checked_address_is_the_one_connected_to(
    server: JwksServer, clock: FrozenClock
) -> None:
    """No second DNS lookup between check and connect (DNS rebinding): the request goes
    to the resolved address, with the registered host in ``Host``."""
    fetcher = RemoteJwks(clock, allow_private=True, resolve=_pinned("127.0.0.1"))
    keys = await fetcher.get(f"http://{NAME}:{server.port}/jwks.json")
    assert keys == {"keys": server.keys}
    assert server.hosts == [f"{NAME}:{server.port}"]


async def test_https_certificate_is_verified_for_the_registered_name(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting by address keeps TLS honest: the server name sent and verified is the
    registered host, so a certificate for another name is refused."""
    ca = LocalCa.create(tmp_path, [NAME])
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    tls_server = JwksServer(tls=ca.server_context()).start()
    try:
        tls_server.publish(_key())
        fetcher = RemoteJwks(clock, allow_private=True, resolve=_pinned("127.0.0.1"))
        keys = await fetcher.get(f"https://{NAME}:{tls_server.port}/jwks.json")
        assert keys == {"keys": tls_server.keys}
        with pytest.raises(KeySetUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await fetcher.get(f"https://other.example.test:{tls_server.port}/jwks.json")
    finally:
        tls_server.stop()


# -- caching and refetching -----------------------------------------------------------


async def test_cached_set_and_rate_limited_refresh(server: JwksServer, clock: FrozenClock) -> None:
    """Cached for the TTL; a refresh (unknown kid) fetches at most once per interval."""
    fetcher = RemoteJwks(clock, allow_private=True)
    first = await fetcher.get(server.url)
    assert await fetcher.get(server.url) == first
    assert server.requests == 1
    for _ in range(5):
        await fetcher.get(server.url, refresh=True)
    assert server.requests == 1, "a refresh within the interval must not fetch"
    clock.advance(remote_jwks.MIN_INTERVAL)
    newer = _key()
    server.publish(newer)
    assert await fetcher.get(server.url, refresh=True) == {"keys": server.keys}
    await fetcher.get(server.url, refresh=True)
    assert server.requests == 2
    clock.advance(remote_jwks.CACHE_TTL)
    await fetcher.get(server.url)
    assert server.requests == 3, "an expired set is fetched again"


async def test_concurrent_misses_share_one_fetch(server: JwksServer, clock: FrozenClock) -> None:
    server.delay = 0.2
    fetcher = RemoteJwks(clock, allow_private=True)
    results = await asyncio.gather(*(fetcher.get(server.url) for _ in range(20)))
    assert all(r == {"keys": server.keys} for r in results)
    assert server.requests == 1


async def test_a_failed_fetch_is_remembered_for_the_interval(
    server: JwksServer, clock: FrozenClock
) -> None:
    server.status = 500
    fetcher = RemoteJwks(clock, allow_private=True)
    for _ in range(3):
        with pytest.raises(KeySetUnavailable, match="HTTP 500"):
            await fetcher.get(server.url)
    assert server.requests == 1
    server.status = 200
    clock.advance(remote_jwks.MIN_INTERVAL)
    assert await fetcher.get(server.url) == {"keys": server.keys}


async def test_a_failed_refresh_keeps_the_cached_set(
    server: JwksServer, clock: FrozenClock
) -> None:
    fetcher = RemoteJwks(clock, allow_private=True)
    keys = await fetcher.get(server.url)
    server.status = 503
    clock.advance(remote_jwks.MIN_INTERVAL)
    assert await fetcher.get(server.url, refresh=True) == keys
    assert await fetcher.get(server.url) == keys
    assert server.requests == 2


async def test_the_cache_is_bounded(server: JwksServer, clock: FrozenClock) -> None:
    fetcher = RemoteJwks(clock, allow_private=True, max_uris=2)
    urls = [f"{server.url}?n={n}" for n in range(3)]
    for url in urls:
        await fetcher.get(url)
    await fetcher.get(urls[0])
    assert server.requests == 4, "the oldest entry was dropped and fetched again"


# -- what counts as a key set ---------------------------------------------------------


def _oversized() -> bytes:
    return b'{"keys": [], "pad": "' + b"x" * (70 * 1024) + b'"}'


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (200, b"<html>hello</html>", {}, "not JSON"),
        (200, b'{"kty": "EC"}', {}, 'no "keys" array'),
        (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', {}, "no usable"),
        (200, _oversized(), {}, "larger than 64 KiB"),
        (200, _oversized(), {"Content-Length": str(len(_oversized()))}, "larger than 64 KiB"),
        (200, b"{}", {"Content-Encoding": "gzip"}, "content encoding"),
        (500, b"{}", {}, "HTTP 500"),
        (302, b"", {"Location": "http://169.254.169.254/"}, "redirects are not followed"),
    ],
    ids=[
        "not-json",
        "not-a-set",
        "symmetric-key-only",
        "oversized-streamed",
        "oversized-declared",
        "compressed",
        "server-error",
        "redirect",
    ],
)
async def test_bad_answers_are_unavailable(
    server: JwksServer,
    clock: FrozenClock,
    status: int,
    body: bytes,
    headers: dict[str, str],
    message: str,
) -> None:
    server.status, server.body, server.headers = status, body, headers
    fetcher = RemoteJwks(clock, allow_private=True)
    with pytest.raises(KeySetUnavailable, match=message):
        await fetcher.get(server.url)
    assert server.requests == 1


async def test_keys_registration_would_refuse_are_dropped(
    server: JwksServer, clock: FrozenClock
) -> None:
    """An encryption key or a private key beside the signature key is left out."""
    signing = _key()
    encryption = {**_key().as_dict(private=False), "use": "enc"}
    leaked = _key().as_dict(private=True)
    server.body = json.dumps(
        {"keys": [encryption, leaked, signing.as_dict(private=False)]}
    ).encode()
    fetcher = RemoteJwks(clock, allow_private=True)
    keys = await fetcher.get(server.url)
    assert [k["kid"] for k in keys["keys"]] == [signing.kid]


async def test_a_slow_server_times_out(
    server: JwksServer, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_jwks, "FETCH_TIMEOUT_SECONDS", 0.3)
    server.delay = 1.0
    fetcher = RemoteJwks(clock, allow_private=True)
    started = time.monotonic()
    with pytest.raises(KeySetUnavailable, match=re.escape("no answer within 0.3 s")):
        await fetcher.get(server.url)
    assert time.monotonic() - started < 0.9
