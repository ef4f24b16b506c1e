"""The JWT attack catalogue against ``/forward-auth`` (RFC 8725 "JWT Best Current
Practices" §2–§3, RFC 9068 §4): every forged, confused, stale or oversized token is a 401
``invalid_token`` (never a 5xx, never a 200), and nothing a token's header names (a key URL,
an embedded key, a key id) makes AuthGate fetch or trust anything.

Forged tokens are assembled from their parts here on purpose: JOSE libraries refuse to
produce most of them. Tokens a real AuthGate key signs come from the server's own signer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.tokens.signer import JwtSigner
from tests.conformance.conftest import Registered
from tests.forward_auth.conftest import ask

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("sqlite", id="sqlite")], indirect=True
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def part(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    decode = lambda text: json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))  # noqa: E731
    return decode(head), decode(body), signature


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer realm="authgate", error="invalid_token"'


@pytest.fixture
async def genuine(orders_token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A real access token's header, claims and signature (the template of the forgeries)."""
    return parts(orders_token)


@pytest.fixture
def attacker_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def attacker_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}


def sign_es256(
    key: ec.EllipticCurvePrivateKey, header: dict[str, Any], claims: dict[str, Any]
) -> str:
    return pyjwt.encode(claims, key, algorithm="ES256", headers=header)


# -- the genuine token works (so every refusal below is the attack's doing) ---------------


async def test_the_genuine_token_is_allowed(http: httpx.AsyncClient, orders_token: str) -> None:
    assert (await ask(http, "/orders", orders_token)).status_code == 200


# -- RFC 8725 §2.1 / §3.1: algorithms ------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(
    http: httpx.AsyncClient, genuine: tuple[dict[str, Any], dict[str, Any], str], alg: str
) -> None:
    header, claims, _ = genuine
    for signature in ("", genuine[2]):
        token = f"{part({**header, 'alg': alg})}.{part(claims)}.{signature}"
        assert_refused(await ask(http, "/orders", token))


async def test_hs256_signed_with_the_public_key_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """Algorithm confusion (RFC 8725 §2.1): the published public key used as an HMAC
    secret, in every encoding a careless verifier might hand to HMAC."""
    header, claims, _ = genuine
    published = {k["kid"]: k for k in (await container.keys.jwks())["keys"]}[header["kid"]]
    public = pyjwt.PyJWK(published).key
    secrets_tried = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(published).encode(),
        json.dumps(published, sort_keys=True, separators=(",", ":")).encode(),
    ]
    for secret in secrets_tried:
        for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384)):
            signing_input = f"{part({**header, 'alg': alg})}.{part(claims)}"
            mac = hmac.new(secret, signing_input.encode(), digest).digest()
            assert_refused(await ask(http, "/orders", f"{signing_input}.{b64(mac)}"))


# -- RFC 8725 §3.10 (and §2.6): key identification must not steer the verifier ------------


async def test_an_unknown_kid_is_refused(
    http: httpx.AsyncClient,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
    attacker_key: ec.EllipticCurvePrivateKey,
) -> None:
    header, claims, _ = genuine
    token = sign_es256(attacker_key, {**header, "kid": "attacker-1"}, claims)
    assert_refused(await ask(http, "/orders", token))


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "x'; DROP TABLE signing_keys; --",
        "\x00",
        "%00",
        "a" * 5000,
        "",
    ],
    ids=["dotdot", "abs-path", "sql-or", "sql-drop", "nul", "enc-nul", "long", "empty"],
)
async def test_a_kid_with_path_or_sql_characters_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
    attacker_key: ec.EllipticCurvePrivateKey,
    kid: str,
) -> None:
    header, claims, _ = genuine
    for alg in ("ES256", "HS256"):
        if alg == "ES256":
            token = sign_es256(attacker_key, {**header, "kid": kid}, claims)
        else:  # a "key file" such as /dev/null read as an empty HMAC secret
            signing_input = f"{part({**header, 'alg': alg, 'kid': kid})}.{part(claims)}"
            token = (
                f"{signing_input}.{b64(hmac.new(b'', signing_input.encode(), 'sha256').digest())}"
            )
        assert_refused(await ask(http, "/orders", token))
    # The keys are still there and still work.
    assert len((await container.keys.jwks())["keys"]) >= 1


class _KeyServer:
    """A loopback server offering the attacker's JWKS (and certificate URL); it records
    every request, so a fetch triggered by a token header would be seen."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def key_server(attacker_key: ec.EllipticCurvePrivateKey) -> Iterator[_KeyServer]:
    server = _KeyServer({"keys": [attacker_jwk(attacker_key, "attacker-1")]})
    yield server
    server.close()


@pytest.mark.parametrize("keep_kid", [True, False], ids=["genuine-kid", "attacker-kid"])
async def test_jku_x5u_and_embedded_jwk_headers_are_ignored(
    http: httpx.AsyncClient,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
    attacker_key: ec.EllipticCurvePrivateKey,
    key_server: _KeyServer,
    keep_kid: bool,
) -> None:
    """RFC 8725 §3.10: keys named or carried by the token are never trusted or fetched."""
    header, claims, _ = genuine
    kid = header["kid"] if keep_kid else "attacker-1"
    base = {**header, "alg": "ES256", "kid": kid}
    variants = [
        {**base, "jku": key_server.url + "/jwks.json"},
        {**base, "x5u": key_server.url + "/cert.pem"},
        {**base, "jwk": attacker_jwk(attacker_key, kid)},
        {
            **base,
            "jku": key_server.url + "/jwks.json",
            "jwk": attacker_jwk(attacker_key, kid),
            "x5u": key_server.url + "/cert.pem",
        },
    ]
    for forged in variants:
        assert_refused(await ask(http, "/orders", sign_es256(attacker_key, forged, claims)))
    await asyncio.sleep(0.05)
    assert key_server.hits == []


# -- RFC 9068 §4 / RFC 8725 §3.11: explicit typing, issuer and audience --------------------


async def _signed(container: Container, typ: str, claims: dict[str, Any], alg: str) -> str:
    """A token signed by AuthGate's current key, exactly as the server signs."""
    return await JwtSigner(container.keys).sign({"typ": typ}, claims, alg)


async def test_an_id_token_used_as_an_access_token_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
    service: Registered,
) -> None:
    """RFC 9068 §4: an access token carries ``typ: at+jwt``; an ID token (``typ: JWT``,
    signed by the same issuer) must not pass for one, even carrying the right claims."""
    header, claims, _ = genuine
    config = container.oauth.config
    id_token = await _signed(container, "JWT", claims, config.id_token_alg)
    assert_refused(await ask(http, "/orders", id_token))
    for typ in ("jwt", "JWT", "application/at+jwt", "at+JWT ", "dpop+jwt"):
        forged = await _signed(container, typ, claims, header["alg"])
        assert_refused(await ask(http, "/orders", forged))


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.example.com"},
        {"iss": None},
        {"aud": "https://billing.example.com"},
        {"aud": ["https://billing.example.com", "https://other.example.com"]},
        {"exp": None},
        {"exp": "9999999999"},
    ],
    ids=["wrong-iss", "no-iss", "wrong-aud", "wrong-aud-list", "no-exp", "string-exp"],
)
async def test_wrong_issuer_or_audience_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
    change: dict[str, Any],
) -> None:
    header, claims, _ = genuine
    changed = {k: v for k, v in {**claims, **change}.items() if v is not None}
    assert_refused(
        await ask(http, "/orders", await _signed(container, "at+jwt", changed, header["alg"]))
    )


async def test_an_expired_token_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """RFC 7519 §4.1.4."""
    header, claims, _ = genuine
    now = int(clock.now().timestamp())
    for exp in (now - 1, now):
        expired = await _signed(container, "at+jwt", {**claims, "exp": exp}, header["alg"])
        assert_refused(await ask(http, "/orders", expired))


async def test_a_not_yet_valid_token_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """RFC 7519 §4.1.5: not before ``nbf``."""
    header, claims, _ = genuine
    now = int(clock.now().timestamp())
    future = {**claims, "nbf": now + 3600, "iat": now + 3600, "exp": now + 7200}
    assert_refused(
        await ask(http, "/orders", await _signed(container, "at+jwt", future, header["alg"]))
    )


async def test_a_token_refused_after_it_expires_even_when_it_was_just_allowed(
    http: httpx.AsyncClient, clock: FrozenClock, orders_token: str
) -> None:
    assert (await ask(http, "/orders", orders_token)).status_code == 200
    clock.advance(timedelta(minutes=16))  # access tokens live 15 minutes
    assert_refused(await ask(http, "/orders", orders_token))


# -- RFC 7515 §5.2: the signature -----------------------------------------------------------


async def test_a_stripped_or_altered_signature_is_refused(
    http: httpx.AsyncClient,
    orders_token: str,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    head, body, signature = orders_token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    _, claims, _ = genuine
    widened = part({**claims, "scope": "orders:read orders:write orders:delete"})
    for token in (
        f"{head}.{body}.",
        f"{head}.{body}",
        f"{head}.{body}.{flipped}",
        f"{head}.{body}.{signature[:-4]}",
        f"{head}.{widened}.{signature}",  # claims changed under a genuine signature
        f"{head}.{body}.{signature}.{signature}",
        f"{head}..{signature}",
    ):
        assert_refused(await ask(http, "/orders", token))


@pytest.mark.parametrize("size", [8_193, 64_000, 1_000_000])
async def test_an_oversized_token_is_refused_without_work(
    http: httpx.AsyncClient, genuine: tuple[dict[str, Any], dict[str, Any], str], size: int
) -> None:
    header, claims, signature = genuine
    padded = {**claims, "pad": "x" * size}
    token = f"{part(header)}.{part(padded)}.{signature}"
    started = time.perf_counter()
    assert_refused(await ask(http, "/orders", token))
    assert time.perf_counter() - started < 1.0


# -- RFC 7517 / spec §5: key rotation ---------------------------------------------------------


async def _retire_signing_key(
    container: Container, clock: FrozenClock, header: dict[str, Any], claims: dict[str, Any]
) -> str:
    """A token claiming three days of life, signed by the current key, which is then
    retired at once (as for a compromised key)."""
    now = int(clock.now().timestamp())
    long_lived = await _signed(
        container, "at+jwt", {**claims, "exp": now + 3 * 86400}, header["alg"]
    )
    await container.keys.rotate(CLI, immediate=True)
    return long_lived


def _past_retention(container: Container, clock: FrozenClock) -> None:
    clock.advance(container.settings.max_token_ttl + timedelta(seconds=1))


async def test_a_token_signed_by_a_retired_key_after_its_retention_is_refused(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """After a rotation the old key stays published while tokens it signed may live
    (spec §5); afterwards nothing it signed is accepted, whatever ``exp`` it claims."""
    header, claims, _ = genuine
    long_lived = await _retire_signing_key(container, clock, header, claims)
    _past_retention(container, clock)
    assert header["kid"] not in {k["kid"] for k in (await container.keys.jwks())["keys"]}
    assert_refused(await ask(http, "/orders", long_lived))


async def test_a_retired_key_token_used_during_retention_is_refused_after_it(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    header, claims, _ = genuine
    long_lived = await _retire_signing_key(container, clock, header, claims)
    assert (await ask(http, "/orders", long_lived)).status_code == 200  # still published
    _past_retention(container, clock)
    assert_refused(await ask(http, "/orders", long_lived))


async def test_a_kid_of_another_algorithm_family_does_not_confuse_verification(
    http: httpx.AsyncClient,
    container: Container,
    genuine: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    """A token claiming the RSA key's kid but signed with the EC key (or the reverse)."""
    header, claims, _ = genuine
    kids = {k["kid"]: k["alg"] for k in (await container.keys.jwks())["keys"]}
    other = next(kid for kid, alg in kids.items() if alg != header["alg"])
    token = await _signed(container, "at+jwt", claims, header["alg"])
    _, body, signature = token.split(".")
    swapped = f"{part({**parts(token)[0], 'kid': other})}.{body}.{signature}"
    assert_refused(await ask(http, "/orders", swapped))
