"""``TokenVerifier`` against a real AuthGate: RFC 9068 §4 validation of access tokens and
the RFC 8725 attack catalogue, and how the JWK Set is fetched (once; again on an unknown
``kid``, rate-limited)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from datetime import timedelta

import authgate_sdk.keys
import httpx
import jwt
import pytest
from authgate_sdk import Claims, InsufficientScope, InvalidToken, IssuerUnavailable, TokenVerifier
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    BILLING,
    ORDERS,
    Registered,
    client_credentials,
    sqlite_only,
)
from tests.sdk.conftest import JWKS_PATH, forge

# Verification reads nothing the database stores differently: one backend is enough.
pytestmark = [sqlite_only]

DISCOVERY = "/.well-known/openid-configuration"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, object]) -> str:
    return _b64(json.dumps(value).encode())


def _with_header(token: str, **header: object) -> str:
    """``token`` with its header changed and its signature kept (now invalid)."""
    head, payload, signature = token.split(".")
    old = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return ".".join((_segment({**old, **header}), payload, signature))


# -- a good token ----------------------------------------------------------------------


async def test_valid_token_gives_its_claims(
    verifier: TokenVerifier, token: str, service: Registered, fetches: Counter[str]
) -> None:
    claims = await verifier.averify(token)
    assert isinstance(claims, Claims)
    assert claims.subject == claims.client_id == service.client_id
    assert claims.scopes == {"orders:read"}
    assert claims.has("orders:read") and not claims.has("orders:write")
    assert claims.raw["aud"] == ORDERS
    # Discovery and the JWK Set were fetched once, and are not fetched again.
    for _ in range(5):
        await verifier.averify(token)
    assert fetches[DISCOVERY] == 1 and fetches[JWKS_PATH] == 1


async def test_permission_missing_is_insufficient_scope(
    verifier: TokenVerifier, token: str
) -> None:
    """RFC 6750 §3.1 ``insufficient_scope`` is a different answer from a bad token."""
    assert (await verifier.averify(token, "orders:read")).subject
    with pytest.raises(InsufficientScope) as raised:
        await verifier.averify(token, "orders:delete")
    assert raised.value.permission == "orders:delete"


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
async def test_every_published_algorithm_verifies(
    verifier: TokenVerifier, container: Container, token: str, alg: str
) -> None:
    """The algorithm is the JWK's ``alg`` (RFC 8725 §3.1): each of AuthGate's keys works."""
    claims = await verifier.averify(await forge(container, token, alg=alg))
    assert claims.scopes == {"orders:read"}


async def test_list_audience_containing_ours_is_accepted(
    verifier: TokenVerifier, container: Container, token: str
) -> None:
    """RFC 9068 §4 item 4 / RFC 7519 §4.1.3: ``aud`` may be an array containing ours."""
    forged = await forge(container, token, claims={"aud": [BILLING, ORDERS]})
    assert (await verifier.averify(forged)).raw["aud"] == [BILLING, ORDERS]


async def test_application_at_jwt_type_is_accepted(
    verifier: TokenVerifier, container: Container, token: str
) -> None:
    """RFC 9068 §4 item 1: ``typ`` is ``at+jwt`` or ``application/at+jwt``."""
    forged = await forge(container, token, header={"typ": "application/at+jwt"})
    assert (await verifier.averify(forged)).subject


async def test_sync_verify(
    token: str, container: Container, clock: FrozenClock, issuer_http: httpx.AsyncClient
) -> None:
    """``verify`` for synchronous code, on an ``httpx.Client`` serving the documents
    AuthGate published (read from it first: httpx has no synchronous ASGI transport)."""
    issuer = container.settings.issuer
    served = {
        DISCOVERY: (await issuer_http.get(issuer + DISCOVERY)).json(),
        JWKS_PATH: (await issuer_http.get(issuer + JWKS_PATH)).json(),
    }
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json=served[request.url.path])

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        verifier = TokenVerifier(issuer, ORDERS, http=client, clock=lambda: clock.now().timestamp())
        assert verifier.verify(token, "orders:read").scopes == {"orders:read"}
        assert verifier.verify(token).subject
        with pytest.raises(InsufficientScope):
            verifier.verify(token, "orders:write")
        with pytest.raises(InvalidToken):
            verifier.verify(_with_header(token, alg="none"))
    assert asked == [DISCOVERY, JWKS_PATH]


async def test_issuer_unreachable_is_not_an_invalid_token(
    token: str, container: Container, clock: FrozenClock
) -> None:
    """With no keys to judge by, the API cannot decide: :class:`IssuerUnavailable` (a 503
    in the integrations), never a 401 blaming the caller."""

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        verifier = TokenVerifier(container.settings.issuer, ORDERS, http=client)
        with pytest.raises(IssuerUnavailable):
            await verifier.averify(token)


async def test_discovery_naming_another_issuer_is_refused(token: str, container: Container) -> None:
    """OpenID Connect Discovery 1.0 §4.3: the metadata's ``issuer`` must be the one asked."""

    def impostor(request: httpx.Request) -> httpx.Response:
        doc = {"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"}
        return httpx.Response(200, json=doc)

    async with httpx.AsyncClient(transport=httpx.MockTransport(impostor)) as client:
        verifier = TokenVerifier(container.settings.issuer, ORDERS, http=client)
        with pytest.raises(IssuerUnavailable):
            await verifier.averify(token)


# -- refused tokens --------------------------------------------------------------------


async def test_expired_token(verifier: TokenVerifier, token: str, clock: FrozenClock) -> None:
    """RFC 9068 §4 item 6; the default 30 s leeway is honoured, not more."""
    clock.advance(timedelta(minutes=15, seconds=20))  # past exp, within the leeway
    assert (await verifier.averify(token)).subject
    clock.advance(timedelta(seconds=11))
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.averify(token)


async def test_not_yet_valid_token(
    verifier: TokenVerifier, container: Container, token: str, clock: FrozenClock
) -> None:
    now = int(clock.now().timestamp())
    with pytest.raises(InvalidToken, match="not yet valid"):
        await verifier.averify(await forge(container, token, claims={"nbf": now + 120}))
    with pytest.raises(InvalidToken, match="not yet valid"):
        await verifier.averify(await forge(container, token, claims={"iat": now + 120}))


async def test_token_for_another_api(
    verifier: TokenVerifier, http: httpx.AsyncClient, service: Registered
) -> None:
    """RFC 9068 §4 item 4: a real token AuthGate issued for the billing API."""
    body = await client_credentials(http, service, resource=BILLING, scope="invoices:read")
    with pytest.raises(InvalidToken, match="wrong audience"):
        await verifier.averify(body["access_token"])


async def test_wrong_issuer(
    verifier: TokenVerifier, container: Container, token: str, issuer_http: httpx.AsyncClient
) -> None:
    """RFC 9068 §4 item 3: ``iss`` is compared exactly (a trailing slash is another issuer)."""
    for iss in ("https://evil.example.com", container.settings.issuer + "/"):
        with pytest.raises(InvalidToken, match="wrong issuer"):
            await verifier.averify(await forge(container, token, claims={"iss": iss}))


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
async def test_required_claim_missing(
    verifier: TokenVerifier, container: Container, token: str, claim: str
) -> None:
    """RFC 9068 §2.2: every required claim must be there."""
    with pytest.raises(InvalidToken, match="missing claim"):
        await verifier.averify(await forge(container, token, claims={claim: None}))


@pytest.mark.parametrize("typ", ["JWT", "id_token+jwt", "application/jwt"])
async def test_wrong_type_is_refused(
    verifier: TokenVerifier, container: Container, token: str, typ: str
) -> None:
    """RFC 9068 §4 item 1, RFC 8725 §3.11: properly signed, but not typed as an access token
    (an ID token has ``typ: JWT``)."""
    with pytest.raises(InvalidToken, match="not an access token"):
        await verifier.averify(await forge(container, token, header={"typ": typ}))


async def test_id_token_is_not_an_access_token(
    verifier: TokenVerifier, container: Container, token: str
) -> None:
    """An ID token (OpenID Connect Core §2: RS256, ``typ: JWT``, ``azp``) signed by
    AuthGate's key and naming this API among its audiences is refused by ``typ``."""
    client = jwt.decode(token, options={"verify_signature": False})["client_id"]
    id_token = await forge(
        container,
        token,
        claims={"aud": [client, ORDERS], "azp": client, "nonce": "n-0S6_WzA2Mj"},
        header={"typ": "JWT"},
        alg="RS256",
    )
    with pytest.raises(InvalidToken):
        await verifier.averify(id_token)


async def test_alg_none(verifier: TokenVerifier, token: str) -> None:
    """RFC 8725 §2.1: an unsigned token naming a real key."""
    head, payload, _ = _with_header(token, alg="none").split(".")
    for unsigned in (f"{head}.{payload}.", f"{head}.{payload}"):
        with pytest.raises(InvalidToken):
            await verifier.averify(unsigned)


async def test_hs256_signed_with_the_public_key(
    verifier: TokenVerifier, issuer_http: httpx.AsyncClient, container: Container, token: str
) -> None:
    """RFC 8725 §2.1 algorithm confusion: HMAC keyed with the published public key (as
    PEM and as the JWK's JSON) naming that key's ``kid``."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwks = (await issuer_http.get(container.settings.issuer + JWKS_PATH)).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, payload, _ = token.split(".")
    head = _segment({"alg": "HS256", "typ": "at+jwt", "kid": kid})
    for secret in (pem, json.dumps(jwk).encode()):
        mac = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidToken, match="algorithm not allowed"):
            await verifier.averify(f"{head}.{payload}.{_b64(mac)}")


async def test_header_alg_other_than_the_keys(verifier: TokenVerifier, token: str) -> None:
    """The header may not choose another algorithm for the key (RFC 8725 §3.1)."""
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await verifier.averify(_with_header(token, alg="ES384"))


async def test_altered_signature_and_payload(verifier: TokenVerifier, token: str) -> None:
    head, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    changed = _segment({**jwt.decode(token, options={"verify_signature": False}), "scope": "*"})
    for tampered in (
        f"{head}.{payload}.{flipped}",
        f"{head}.{changed}.{signature}",
        f"{head}.{payload}.{signature[:20]}",
    ):
        with pytest.raises(InvalidToken, match="bad signature"):
            await verifier.averify(tampered)


async def test_embedded_keys_are_ignored(verifier: TokenVerifier, token: str) -> None:
    """RFC 8725 §3.10 / jwt attacks: ``jwk``, ``jku`` and ``x5u`` headers pointing at the
    attacker's key are never used; the kid must be one AuthGate publishes."""
    mine = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(mine.public_key()))
    claims = jwt.decode(token, options={"verify_signature": False})
    real_kid = jwt.get_unverified_header(token)["kid"]
    for kid in (real_kid, "attacker"):
        headers = {
            "typ": "at+jwt",
            "kid": kid,
            "jwk": public,
            "jku": "https://evil.example/jwks",
            "x5u": "https://evil.example/x5",
        }
        forged = jwt.encode(claims, mine, algorithm="ES256", headers=headers)
        with pytest.raises(InvalidToken, match=r"bad signature|unknown signing key"):
            await verifier.averify(forged)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-token",
        "a.b.c.d.e",  # a JWE's five parts
        "x" * 20_000,
        "eyJ0eXAiOiJhdCtqd3QifQ.e30.sig",  # no kid
    ],
    ids=["empty", "garbage", "jwe", "oversized", "no-kid"],
)
async def test_malformed_tokens(verifier: TokenVerifier, bad: str, fetches: Counter[str]) -> None:
    with pytest.raises(InvalidToken):
        await verifier.averify(bad)
    assert fetches[JWKS_PATH] == 0  # refused before any key is looked up


async def test_kid_with_path_or_sql_characters(verifier: TokenVerifier, token: str) -> None:
    """RFC 8725 §2.9, §3.10: the ``kid`` is only ever a dictionary key of the published
    set, never a path or a query."""
    for kid in ("../../etc/passwd", "' OR 1=1 --", "x" * 1000):
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.averify(_with_header(token, kid=kid))


async def test_crit_header_is_refused(
    verifier: TokenVerifier, container: Container, token: str
) -> None:
    """RFC 7515 §4.1.11: an extension we do not understand marked critical."""
    forged = await forge(container, token, header={"crit": ["exp"], "exp": 1})
    with pytest.raises(InvalidToken, match="unsupported header"):
        await verifier.averify(forged)


# -- the JWK Set -----------------------------------------------------------------------


async def test_immediate_rotation_is_picked_up_by_the_unknown_kid_refetch(
    verifier: TokenVerifier,
    container: Container,
    http: httpx.AsyncClient,
    service: Registered,
    token: str,
    fetches: Counter[str],
) -> None:
    """A key activated at once (spec §5, a compromised key) signs tokens the verifier has
    not seen the key of: it fetches the set again, and the old key's tokens still pass."""
    await verifier.averify(token)
    await container.keys.rotate(CLI, immediate=True)
    body = await client_credentials(http, service, resource=ORDERS, scope="orders:read")
    fresh = body["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] != jwt.get_unverified_header(token)["kid"]
    assert (await verifier.averify(fresh)).subject == service.client_id
    assert (await verifier.averify(token)).subject == service.client_id
    assert fetches[JWKS_PATH] == 2 and fetches[DISCOVERY] == 1


async def test_flood_of_unknown_kids_costs_one_refetch(
    verifier: TokenVerifier, token: str, fetches: Counter[str]
) -> None:
    """100 tokens with made-up ``kid``s, all at once and then one by one: one fetch of the
    JWK Set beyond the first, however many arrive."""
    await verifier.averify(token)
    bogus = [_with_header(token, kid=secrets.token_urlsafe(16)) for _ in range(100)]
    results = await asyncio.gather(*(verifier.averify(t) for t in bogus), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) and r.reason == "unknown signing key" for r in results)
    for t in bogus[:20]:
        with pytest.raises(InvalidToken):
            await verifier.averify(t)
    assert fetches[JWKS_PATH] == 2
    assert (await verifier.averify(token)).subject  # good tokens are unaffected


async def test_concurrent_first_requests_share_one_fetch(
    verifier: TokenVerifier, token: str, fetches: Counter[str]
) -> None:
    await asyncio.gather(*(verifier.averify(token) for _ in range(20)))
    assert fetches[DISCOVERY] == 1 and fetches[JWKS_PATH] == 1


class Monotonic:
    """The SDK's monotonic clock, moved by the test (the event loop keeps the real one)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(authgate_sdk.keys, "time", fake)
    return fake


async def test_retired_key_is_dropped_when_the_set_goes_stale(
    verifier: TokenVerifier,
    container: Container,
    token: str,
    clock: FrozenClock,
    monotonic: Monotonic,
    fetches: Counter[str],
) -> None:
    """A token signed by a key AuthGate no longer publishes (rotated, then kept only until
    every token it signed expired) is refused once the cached set outlives its
    ``Cache-Control: max-age``: the verifier fetches the set again and the key is gone."""
    await verifier.averify(token)
    await container.keys.rotate(CLI, immediate=True)
    clock.advance(container.settings.max_token_ttl + timedelta(seconds=1))
    verifier.leeway = 10**9  # the token's own expiry is not what this test is about
    assert (await verifier.averify(token)).subject  # the cached set still holds the key
    monotonic.offset = container.settings.jwks_max_age.total_seconds() + 1
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.averify(token)
    assert fetches[JWKS_PATH] == 2


async def test_refresh_failure_keeps_the_cached_keys(
    token: str,
    container: Container,
    clock: FrozenClock,
    issuer_http: httpx.AsyncClient,
    monotonic: Monotonic,
) -> None:
    """AuthGate unreachable when the set goes stale: verification stays local and goes on
    with the keys it has (spec §7), and the fetch is tried again later, not per request."""
    issuer = container.settings.issuer
    documents = {
        DISCOVERY: (await issuer_http.get(issuer + DISCOVERY)).json(),
        JWKS_PATH: (await issuer_http.get(issuer + JWKS_PATH)).json(),
    }
    up = [True]
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if not up[0]:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=documents[request.url.path])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        verifier = TokenVerifier(issuer, ORDERS, http=client, clock=lambda: clock.now().timestamp())
        await verifier.averify(token)
        up[0] = False
        monotonic.offset = 10_000
        for _ in range(10):
            assert (await verifier.averify(token)).subject
        assert asked == [DISCOVERY, JWKS_PATH, JWKS_PATH]


# -- the rest of the attack catalogue --------------------------------------------------


async def test_signature_stripped(verifier: TokenVerifier, token: str) -> None:
    """RFC 8725 §2.1 / RFC 9068 §4 item 5: the token's own header (``alg: ES256``) with
    the signature removed is not an unsigned token that passes."""
    head, payload, _ = token.split(".")
    with pytest.raises(InvalidToken, match="bad signature"):
        await verifier.averify(f"{head}.{payload}.")


async def test_zero_signature_is_refused(verifier: TokenVerifier, token: str) -> None:
    """ECDSA with r = s = 0 (the "psychic signature" family of verifier bugs) and a DER
    signature where RFC 7518 §3.4 requires the 64-octet R || S."""
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    for bad in (bytes(64), der):
        with pytest.raises(InvalidToken, match="bad signature"):
            await verifier.averify(f"{head}.{payload}.{_b64(bad)}")


async def test_oversized_signed_token(
    verifier: TokenVerifier, container: Container, token: str, fetches: Counter[str]
) -> None:
    """A token properly signed by AuthGate's key but over 16 KiB is refused before any
    parsing or key lookup: no RFC sets the size, the bound keeps a caller from making the
    verifier decode megabytes per request (access tokens AuthGate issues are ~500 bytes)."""
    huge = await forge(container, token, claims={"padding": "x" * 20_000})
    with pytest.raises(InvalidToken, match="malformed token"):
        await verifier.averify(huge)
    assert fetches[JWKS_PATH] == 0


async def test_token_signed_by_a_key_the_issuer_never_published(
    verifier: TokenVerifier, token: str
) -> None:
    """RFC 8725 §3.1: a well-formed token naming a ``kid`` that is not in the JWK Set."""
    mine = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, mine, algorithm="ES256", headers={"typ": "at+jwt", "kid": "k-x"})
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.averify(forged)


async def test_key_type_confusion(
    verifier: TokenVerifier, container: Container, token: str
) -> None:
    """RFC 8725 §3.1: an RS256 token naming the ES256 key's ``kid`` is refused for its
    algorithm, whatever its signature."""
    es_kid = jwt.get_unverified_header(token)["kid"]
    rs = await forge(container, token, alg="RS256", header={"kid": es_kid})
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await verifier.averify(rs)


# -- the verification cache ------------------------------------------------------------


@pytest.fixture
def caching(
    container: Container, issuer_http: httpx.AsyncClient, clock: FrozenClock
) -> TokenVerifier:
    return TokenVerifier(
        container.settings.issuer,
        ORDERS,
        http=issuer_http,
        clock=lambda: clock.now().timestamp(),
        cache_size=3,
        cache_ttl=60,
    )


async def test_cached_answer_lives_until_the_cache_ttl(
    caching: TokenVerifier, token: str, clock: FrozenClock
) -> None:
    first = await caching.averify(token)
    assert await caching.averify(token) is first  # answered from the cache
    assert caching.health()["cached_tokens"] == 1
    clock.advance(timedelta(seconds=61))
    assert await caching.averify(token) is not first  # verified again after cache_ttl


async def test_cached_answer_never_outlives_the_token(
    caching: TokenVerifier, token: str, clock: FrozenClock
) -> None:
    """The cache keeps an answer until ``exp`` at most: past it (and the leeway) the token
    is refused as expired, never answered from memory."""
    caching.cache_ttl = 10**6
    await caching.averify(token)
    clock.advance(timedelta(minutes=15, seconds=31))
    with pytest.raises(InvalidToken, match="expired"):
        await caching.averify(token)


async def test_cached_answer_still_checks_the_permission(
    caching: TokenVerifier, token: str
) -> None:
    await caching.averify(token)
    with pytest.raises(InsufficientScope):
        await caching.averify(token, "orders:delete")


async def test_cache_is_bounded(
    caching: TokenVerifier, http: httpx.AsyncClient, service: Registered
) -> None:
    for _ in range(10):
        body = await client_credentials(http, service, resource=ORDERS, scope="orders:read")
        await caching.averify(body["access_token"])
        assert caching.health()["cached_tokens"] <= 3


async def test_refused_tokens_are_not_cached(caching: TokenVerifier, token: str) -> None:
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await caching.averify(_with_header(token, alg="none"))
    assert caching.health()["cached_tokens"] == 0


def test_health_without_a_feed(verifier: TokenVerifier) -> None:
    health = verifier.health()
    assert health["feed"] == "off" and not health["feed_connected"]
    assert health["fallback"] == "short_cache" and not health["fallback_active"]
