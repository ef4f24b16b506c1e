"""RFC 7523 §2.2 and §3 (JWT client authentication, OpenID Connect Core §9
``private_key_jwt``): an assertion signed with a registered key, aimed at the token
endpoint, used once; every failure is ``invalid_client`` (401, RFC 6749 §5.2)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import ORDERS, TOKEN, assert_oauth_error, sqlite_only

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _key() -> ECKey:
    key = ECKey.generate_key("P-256")
    key.ensure_kid()
    return key


@pytest.fixture
def signing_key() -> ECKey:
    return _key()


@pytest.fixture
async def keyed_client(container: Container, apis: None, signing_key: ECKey) -> str:
    """A confidential client that authenticates with a key pair; AuthGate holds only the
    public half (a JWK Set)."""
    client, secret = await container.clients.create(
        CLI,
        name="Key holder",
        auth_method="private_key_jwt",
        jwks={"keys": [signing_key.as_dict(private=False)]},
        grant_types=["client_credentials"],
        audiences=[ORDERS],
    )
    assert secret is None
    return client.client_id


def _assertion(
    key: ECKey, client_id: str, clock: FrozenClock, token_endpoint: str, **changes: Any
) -> str:
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


async def _token(http: httpx.AsyncClient, assertion: str, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **form,
    }
    return await http.post(TOKEN, data=data)


def _endpoint(container: Container) -> str:
    return container.settings.issuer + TOKEN


async def test_assertion_for_the_token_endpoint_authenticates(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
) -> None:
    """§2.2 / §3: iss = sub = client_id, aud = the token endpoint, exp, jti; the client_id
    parameter may accompany it (it must then match)."""
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container))
    response = await _token(http, assertion, client_id=keyed_client)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    also_list = _assertion(
        signing_key, keyed_client, clock, _endpoint(container), aud=[_endpoint(container)]
    )
    assert (await _token(http, also_list)).status_code == 200


async def test_replayed_assertion_is_invalid_client(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
) -> None:
    """§3 item 7: the server may keep used ``jti`` values to refuse replays (RFC 7523 §5.2
    and spec: accepted once)."""
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container))
    assert (await _token(http, assertion)).status_code == 200
    replay = await _token(http, assertion)
    assert_oauth_error(replay, "invalid_client", 401)
    assert "www-authenticate" not in replay.headers


async def test_concurrent_replays_of_one_assertion(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
) -> None:
    """§3 item 7 under concurrency: of simultaneous uses of one assertion exactly one
    authenticates (on SQLite and PostgreSQL)."""
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container))
    responses = await asyncio.gather(*(_token(http, assertion) for _ in range(20)))
    assert [r.status_code for r in responses].count(200) == 1
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_client", 401)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "https://attacker.example.com/token"},
        {"exp": -120},
        {"exp": None},
        {"exp": 3600},
        {"jti": None},
        {"sub": "someone-else"},
        {"iss": "someone-else"},
        {"nbf": 600},
    ],
    ids=[
        "other-audience",
        "expired",
        "no-exp",
        "exp-too-far",
        "no-jti",
        "sub-differs",
        "iss-differs",
        "not-yet-valid",
    ],
)
@sqlite_only
async def test_bad_claims_are_invalid_client(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
    change: dict[str, Any],
) -> None:
    """§3 items 1–5: iss and sub are the client, aud names the token endpoint, exp is set,
    not past and not unreasonably far (§3 item 4; AuthGate: 10 minutes), nbf not ahead."""
    now = int(clock.now().timestamp())
    claims = dict(change)
    for name in ("exp", "nbf"):
        if isinstance(claims.get(name), int):
            claims[name] = now + claims[name]
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container), **claims)
    response = await _token(http, assertion)
    assert_oauth_error(response, "invalid_client", 401)


@sqlite_only
async def test_assertion_signed_by_another_key_is_invalid_client(
    http: httpx.AsyncClient, container: Container, clock: FrozenClock, keyed_client: str
) -> None:
    """§3 item 9: the signature must verify with the client's registered key."""
    intruder = _key()
    assertion = _assertion(intruder, keyed_client, clock, _endpoint(container))
    assert_oauth_error(await _token(http, assertion), "invalid_client", 401)


@sqlite_only
async def test_unsigned_assertion_is_invalid_client(
    http: httpx.AsyncClient, container: Container, clock: FrozenClock, keyed_client: str
) -> None:
    """RFC 8725 §3.1: ``alg: none`` is never accepted."""
    real = _assertion(_key(), keyed_client, clock, _endpoint(container))
    _, payload, _ = real.split(".")
    unsigned = "eyJhbGciOiJub25lIn0." + payload + "."
    assert_oauth_error(await _token(http, unsigned), "invalid_client", 401)


@sqlite_only
async def test_wrong_assertion_type_is_invalid_client(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
) -> None:
    """§2.2: client_assertion_type must be the jwt-bearer URN."""
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container))
    response = await _token(
        http, assertion, client_assertion_type="urn:ietf:params:oauth:client-assertion-type:x"
    )
    assert_oauth_error(response, "invalid_client", 401)
    # The refused request did not use up the assertion's jti.
    assert (await _token(http, assertion)).status_code == 200


@sqlite_only
async def test_client_id_must_match_the_assertion(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    keyed_client: str,
    signing_key: ECKey,
) -> None:
    assertion = _assertion(signing_key, keyed_client, clock, _endpoint(container))
    response = await _token(http, assertion, client_id="someone-else")
    assert_oauth_error(response, "invalid_client", 401)
