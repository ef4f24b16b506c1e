"""A real AuthGate (the in-process app on the conformance world) for the SDK to verify
against: ``verifier`` fetches discovery and the JWK Set from it over HTTP, every request
counted in ``fetches``, and reads the time from the test's FrozenClock."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from authgate_sdk import TokenVerifier

from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.web.app import create_app
from tests.conformance import conftest as conformance
from tests.conformance.conftest import ORDERS, Registered, client_credentials
from tests.conftest import BACKENDS
from tests.sdk.live import Live, live_server

# The conformance world's fixtures, shared as they are.
_model_changes_seen_at_once = conformance._model_changes_seen_at_once
_one_rsa_key_per_run = conformance._one_rsa_key_per_run
apis = conformance.apis
service = conformance.service
http = conformance.http

JWKS_PATH = "/.well-known/jwks.json"


class CountingTransport(httpx.AsyncBaseTransport):
    """The app's transport, counting the paths asked for."""

    def __init__(self, inner: httpx.AsyncBaseTransport, counts: Counter[str]) -> None:
        self.inner = inner
        self.counts = counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts[request.url.path] += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
def fetches() -> Counter[str]:
    return Counter()


@pytest.fixture
async def issuer_http(
    container: Container, fetches: Counter[str]
) -> AsyncIterator[httpx.AsyncClient]:
    transport = CountingTransport(
        httpx.ASGITransport(app=create_app(container.settings, container)), fetches
    )
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


@pytest.fixture
def verifier(
    container: Container, issuer_http: httpx.AsyncClient, clock: FrozenClock
) -> TokenVerifier:
    return TokenVerifier(
        container.settings.issuer,
        ORDERS,
        http=issuer_http,
        clock=lambda: clock.now().timestamp(),
    )


@pytest.fixture
async def token(http: httpx.AsyncClient, service: Registered) -> str:
    """An ES256 access token of the ``service`` client for the orders API (orders:read)."""
    body = await client_credentials(http, service, resource=ORDERS, scope="orders:read")
    return str(body["access_token"])


async def forge(
    container: Container,
    token: str,
    *,
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    alg: str = "ES256",
) -> str:
    """``token`` re-signed by AuthGate's own current ``alg`` key with claims and header
    changed (a value of None drops it): what only a bug or a stolen key could produce."""
    kid, key = await container.keys.signing_key(alg)
    private: Any = key.private_key
    payload = {**jwt.decode(token, options={"verify_signature": False}), **(claims or {})}
    headers = {"typ": "at+jwt", "kid": kid, **(header or {})}
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None},
        private,
        algorithm=alg,
        headers={k: v for k, v in headers.items() if v is not None},
    )


# -- a real ``authgate serve`` for the end-to-end tests ---------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    with live_server(request.param) as server:
        yield server


@pytest.fixture(scope="module")
def live_sqlite() -> Iterator[Live]:
    """The same on SQLite only, for what the database cannot change."""
    with live_server("sqlite") as server:
        yield server
