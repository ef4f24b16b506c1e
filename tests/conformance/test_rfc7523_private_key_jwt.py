"""RFC 7523 §2.2 and §3 (JWT client authentication, OpenID Connect Core §9
``private_key_jwt``): an assertion signed with a registered key, aimed at the token
endpoint, used once; every failure is ``invalid_client`` (401, RFC 6749 §5.2)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clients import remote_jwks
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import ORDERS, TOKEN, assert_oauth_error, sqlite_only
from tests.conftest import empty_database, make_settings
from tests.unit.test_remote_jwks import JwksServer, LocalCa

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


# -- keys published at a jwks_uri (OpenID Connect Core §9 and §10.1.1) ------------------
#
# The client's key server is a real HTTPS server on 127.0.0.1 (``JwksServer``) with a
# certificate from a CA made for the test, trusted through ``SSL_CERT_FILE``. Reaching
# 127.0.0.1 needs ``jwks_uri_allow_private_addresses``; tests that fetch turn it on with
# ``private_addresses_allowed``.


private_addresses_allowed = pytest.mark.parametrize(
    "jwks_uri_allow_private", [pytest.param(True, id="private-allowed")]
)


@pytest.fixture
def jwks_uri_allow_private() -> bool:
    """The default (off); ``private_addresses_allowed`` turns it on for a test."""
    return False


@pytest.fixture
async def container(
    database_url: str, data_dir: Path, clock: FrozenClock, jwks_uri_allow_private: bool
) -> AsyncIterator[Container]:
    """The conformance container, with ``jwks_uri_allow_private_addresses`` as the test
    asks."""
    settings = make_settings(
        data_dir,
        database_url,
        rate_limits={"enabled": True},
        jwks_uri_allow_private_addresses=jwks_uri_allow_private,
    )
    built = Container.build(settings, clock=clock, create_master_key=True)
    await empty_database(built.db)
    await built.keys.ensure_initial(CLI)
    yield built
    await built.close()


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return LocalCa.create(tmp_path_factory.mktemp("ca"), ["127.0.0.1"])


@pytest.fixture
def key_server(local_ca: LocalCa, monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    monkeypatch.setenv("SSL_CERT_FILE", str(local_ca.ca_file))
    server = JwksServer(tls=local_ca.server_context()).start()
    yield server
    server.stop()


@pytest.fixture
async def remote_client(
    container: Container, apis: None, key_server: JwksServer, signing_key: ECKey
) -> str:
    """A private_key_jwt client whose public key is published at its jwks_uri."""
    key_server.publish(signing_key)
    client, _ = await container.clients.create(
        CLI,
        name="Key publisher",
        auth_method="private_key_jwt",
        jwks_uri=key_server.url,
        grant_types=["client_credentials"],
        audiences=[ORDERS],
    )
    return client.client_id


@private_addresses_allowed
async def test_assertion_verified_with_keys_from_the_jwks_uri(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    remote_client: str,
    signing_key: ECKey,
    key_server: JwksServer,
) -> None:
    """RFC 7523 §3 item 9 / OpenID Connect Core §9: the signature verifies with a key
    from the client's jwks_uri; the set is cached, not fetched per request."""
    for _ in range(3):
        assertion = _assertion(signing_key, remote_client, clock, _endpoint(container))
        response = await _token(http, assertion)
        assert response.status_code == 200, response.text
    assert key_server.requests == 1


@private_addresses_allowed
async def test_rotated_client_key_is_fetched_again(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    remote_client: str,
    signing_key: ECKey,
    key_server: JwksServer,
) -> None:
    """OpenID Connect Core §10.1.1: the client publishes a new key and signs with it; the
    unfamiliar ``kid`` makes AuthGate fetch the set again, well before the cache expires."""
    first = _assertion(signing_key, remote_client, clock, _endpoint(container))
    assert (await _token(http, first)).status_code == 200
    rotated = _key()
    key_server.publish(rotated)
    clock.advance(remote_jwks.MIN_INTERVAL)
    assertion = _assertion(rotated, remote_client, clock, _endpoint(container))
    response = await _token(http, assertion)
    assert response.status_code == 200, response.text
    assert key_server.requests == 2


@private_addresses_allowed
async def test_unknown_kid_flood_fetches_at_most_once_per_interval(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    remote_client: str,
    signing_key: ECKey,
    key_server: JwksServer,
) -> None:
    """OpenID Connect Core §10.1.1 has an unfamiliar ``kid`` fetch the set again; made-up
    ``kid`` values (concurrent and one after another) still cost the client's server one
    request per interval, so nobody can turn AuthGate against it."""
    genuine = _assertion(signing_key, remote_client, clock, _endpoint(container))
    assert (await _token(http, genuine)).status_code == 200
    clock.advance(remote_jwks.MIN_INTERVAL)

    def bogus() -> str:
        return _assertion(_key(), remote_client, clock, _endpoint(container))

    responses = list(await asyncio.gather(*(_token(http, bogus()) for _ in range(8))))
    responses += [await _token(http, bogus()) for _ in range(4)]
    for response in responses:
        assert_oauth_error(response, "invalid_client", 401)
    assert key_server.requests == 2
    clock.advance(remote_jwks.MIN_INTERVAL)
    assert_oauth_error(await _token(http, bogus()), "invalid_client", 401)
    assert key_server.requests == 3
    genuine = _assertion(signing_key, remote_client, clock, _endpoint(container))
    assert (await _token(http, genuine)).status_code == 200
    assert key_server.requests == 3


def _logged_details(caplog: pytest.LogCaptureFixture) -> str:
    """The internal details of the OAuth errors logged (never sent to the client)."""
    return " ".join(str(getattr(r, "detail", "")) for r in caplog.records)


async def test_loopback_jwks_uri_is_refused_by_default(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    remote_client: str,
    signing_key: ECKey,
    key_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PRODUCT §7 (OWASP SSRF Prevention): with default settings AuthGate does not connect
    to a loopback jwks_uri at all; the client simply fails to authenticate, and the log
    says why."""
    caplog.set_level(logging.INFO, logger="authgate.oauth")
    assertion = _assertion(signing_key, remote_client, clock, _endpoint(container))
    response = await _token(http, assertion)
    assert_oauth_error(response, "invalid_client", 401)
    assert "loopback" not in response.text
    assert "127.0.0.1, a loopback address" in _logged_details(caplog)
    assert key_server.connections == 0


@private_addresses_allowed
@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (200, b"this is not json", "not JSON"),
        (200, b'{"keys": "none"}', 'no "keys" array'),
        (200, b'{"keys": [], "pad": "' + b"x" * (65 * 1024) + b'"}', "larger than 64 KiB"),
        (500, b'{"error": "boom"}', "HTTP 500"),
        (302, b"", "redirects are not followed"),
    ],
    ids=["not-json", "not-a-key-set", "oversized", "server-error", "redirect"],
)
async def test_unusable_jwks_uri_answers_are_invalid_client(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    remote_client: str,
    signing_key: ECKey,
    key_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: bytes,
    detail: str,
) -> None:
    """Whatever the client's server answers, a failed fetch is the client failing to
    authenticate (401 invalid_client), never an AuthGate error (PRODUCT §4: no 5xx);
    the reason is logged."""
    caplog.set_level(logging.INFO, logger="authgate.oauth")
    key_server.status, key_server.body = status, body
    key_server.headers = {"Location": "http://169.254.169.254/"} if status == 302 else {}
    assertion = _assertion(signing_key, remote_client, clock, _endpoint(container))
    assert_oauth_error(await _token(http, assertion), "invalid_client", 401)
    assert detail in _logged_details(caplog)
    assert key_server.requests == 1
