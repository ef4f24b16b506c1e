"""Fixtures for the OAuth 2.0 / OpenID Connect conformance tests over HTTP.

A registered world (two APIs, a client-credentials service, a confidential web app, a
public single-page app, a resource server that introspects, a user with a role bound at
``/``), the in-process app as an httpx client, and :class:`Browser`, which walks the
browser part of the authorization code flow: ``GET /oauth/authorize`` → login form
(→ second factor) → consent form → 302 to the client's redirect URI.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import jwt
import pyotp
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.keys import service as key_service
from authgate.web.app import create_app

ORDERS = "https://orders.example.com"
ORDERS_PERMISSIONS = ("orders:read", "orders:write", "orders:delete")
BILLING = "https://billing.example.com"
BILLING_PERMISSIONS = ("invoices:read", "invoices:send")
WEB_REDIRECT = "https://app.example.com/callback"
WEB_LOGGED_OUT = "https://app.example.com/signed-out"
SPA_REDIRECT = "https://spa.example.com/callback"
PASSWORD = "correct-horse-battery"
TOKEN = "/oauth/token"
INTROSPECT = "/oauth/introspect"
REVOKE = "/oauth/revoke"
AUTHORIZE = "/oauth/authorize"
USERINFO = "/oauth/userinfo"
LOGOUT = "/oauth/logout"

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_SEALED = re.compile(r'name="sealed" value="([^"]+)"')


@dataclass(frozen=True)
class Registered:
    """A registered client as its developer knows it: the id and the secret shown once."""

    client_id: str
    secret: str | None = None

    @property
    def basic(self) -> tuple[str, str]:
        assert self.secret is not None
        return self.client_id, self.secret


@dataclass(frozen=True)
class Pkce:
    """RFC 7636 §4.1–4.2: a fresh verifier and its S256 challenge."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


# -- the registered world ---------------------------------------------------------------


@pytest.fixture
async def apis(container: Container) -> None:
    await container.apis.create(
        CLI, audience=ORDERS, name="Orders", permissions=list(ORDERS_PERMISSIONS)
    )
    await container.apis.create(
        CLI, audience=BILLING, name="Billing", permissions=list(BILLING_PERMISSIONS)
    )


@pytest.fixture
async def alice(container: Container, apis: None) -> str:
    """A user who holds orders:read and orders:write at ``/`` (not orders:delete)."""
    user = await container.users.create("alice", CLI, password=PASSWORD, email="alice@example.com")
    await container.access.create_role(CLI, "order-clerk", ["orders:read", "orders:write"])
    await container.access.bind(CLI, "order-clerk", "user:alice", "/")
    return user.id


@pytest.fixture
async def service(container: Container, apis: None) -> Registered:
    """A client-credentials client for both APIs that holds orders:read and invoices:read."""
    client, secret = await container.clients.create(
        CLI,
        name="Order sync",
        grant_types=["client_credentials"],
        audiences=[ORDERS, BILLING],
    )
    await container.access.create_role(CLI, "sync", ["orders:read", "invoices:read"])
    await container.access.bind(CLI, "sync", f"client:{client.client_id}", "/")
    return Registered(client.client_id, secret)


@pytest.fixture
async def webapp(container: Container, apis: None) -> Registered:
    """A confidential web application (client_secret_basic) using the code flow."""
    client, secret = await container.clients.create(
        CLI,
        name="Shop back office",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[WEB_REDIRECT],
        post_logout_redirect_uris=[WEB_LOGGED_OUT],
        audiences=[ORDERS],
    )
    return Registered(client.client_id, secret)


@pytest.fixture
async def spa(container: Container, apis: None) -> Registered:
    """A public client (no secret): PKCE is mandatory for it."""
    client, _ = await container.clients.create(
        CLI,
        name="Shop app",
        public=True,
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[SPA_REDIRECT],
        audiences=[ORDERS],
    )
    return Registered(client.client_id)


@pytest.fixture
async def resource_server(container: Container, apis: None) -> Registered:
    """The orders API itself, as a confidential client that introspects tokens."""
    client, secret = await container.clients.create(
        CLI, name="Orders API", grant_types=["client_credentials"], audiences=[ORDERS]
    )
    return Registered(client.client_id, secret)


@pytest.fixture(autouse=True)
def _model_changes_seen_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token endpoint caches clients, APIs and bindings and re-reads them at most every
    ``ACCESS_POLL_SECONDS`` (spec §2 allows 5 s). These tests are about the protocol, so
    the engine is built to look every time: a change made through a service (disabling a
    client, rotating its secret) is seen by the next request. Runs before ``container``."""
    monkeypatch.setattr("authgate.container.ACCESS_POLL_SECONDS", 0.0)


_RSA_KEY: list[Any] = []


@pytest.fixture(autouse=True)
def _one_rsa_key_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generating a 2048-bit RSA key is most of a test's set-up. Each test's first RS256
    signing key (made by ``container``) is one generated once per run; any further one (a
    key rotation) is new as in production."""
    real = key_service._generate
    fresh = False

    def generate(alg: str) -> Any:
        nonlocal fresh
        if alg != "RS256" or fresh:
            return real(alg)
        fresh = True
        if not _RSA_KEY:
            _RSA_KEY.append(real(alg))
        return _RSA_KEY[0]

    monkeypatch.setattr(key_service, "_generate", generate)


#: For tests of request validation that storage cannot change: SQLite only. Everything
#: that stores or spends something (codes, refresh tokens, grants, the deny list, the
#: assertion ledger, consents, sessions) runs on both databases.
sqlite_only = pytest.mark.parametrize(
    "database_url", [pytest.param("sqlite", id="sqlite")], indirect=True
)


# -- HTTP -------------------------------------------------------------------------------


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 41000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def browser(http: httpx.AsyncClient, clock: FrozenClock) -> Browser:
    return Browser(http, clock)


async def token_request(
    http: httpx.AsyncClient,
    form: Mapping[str, str],
    client: Registered | None = None,
    *,
    method: str = "basic",
    path: str = TOKEN,
) -> httpx.Response:
    """POST a form to a back-channel endpoint, the client authenticating with ``method``:
    ``basic`` (client_secret_basic), ``post`` (client_secret_post) or ``none`` (public)."""
    data = dict(form)
    if client is not None and method == "basic":
        return await http.post(path, data=data, auth=client.basic)
    if client is not None and method == "post":
        data.update(client_id=client.client_id, client_secret=client.secret or "")
    elif client is not None:
        data["client_id"] = client.client_id
    return await http.post(path, data=data)


async def client_credentials(
    http: httpx.AsyncClient, client: Registered, **form: str
) -> dict[str, Any]:
    response = await token_request(http, {"grant_type": "client_credentials", **form}, client)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def introspect(
    http: httpx.AsyncClient, caller: Registered, token: str, **form: str
) -> dict[str, Any]:
    response = await token_request(http, {"token": token, **form}, caller, path=INTROSPECT)
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_oauth_error(response: httpx.Response, error: str, status: int) -> dict[str, Any]:
    """The RFC 6749 §5.2 error object with the expected code and status."""
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["error"] == error, body
    assert response.headers.get("cache-control") == "no-store"
    return body


async def verify_jwt(
    http: httpx.AsyncClient,
    token: str,
    *,
    audience: str,
    issuer: str,
    leeway: timedelta = timedelta(0),
) -> dict[str, Any]:
    """Verify a token the way a relying party does: PyJWT against the published JWKS.
    ``leeway`` covers a FrozenClock moved ahead of the wall clock."""
    jwks = (await http.get("/.well-known/jwks.json")).json()
    published = {k["kid"]: k for k in jwks["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in published, f"key {kid} is not in the JWKS"
    key = jwt.PyJWK(published[kid])
    return dict(
        jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
        )
    )


def redirect_params(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The query of a 302 to the client's redirect URI (RFC 6749 §4.1.2)."""
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


def code_request(
    client: Registered,
    redirect_uri: str,
    scope: str = "openid orders:read",
    pkce: Pkce | None = None,
    **extra: str,
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(12),
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    params.update(extra)
    return params


class Browser:
    """The user agent: keeps cookies, fills in the login, second-factor and consent forms."""

    def __init__(self, http: httpx.AsyncClient, clock: FrozenClock) -> None:
        self.http = http
        self.clock = clock
        self.username = "alice"
        self.password = PASSWORD
        self.totp_secret: str | None = None
        self.pages: list[str] = []  # paths of the AuthGate pages shown, in order
        #: How far the FrozenClock moves before each step, as time passes in a real browser.
        self.tick = timedelta(0)

    async def authorize(
        self, params: Mapping[str, str], *, decision: str | None = "allow"
    ) -> httpx.Response:
        """Follow the flow until a response leaves AuthGate (a redirect to the client) or
        a page is shown that is neither a form it knows nor a redirect (an error page).
        ``decision=None`` stops at the consent page."""
        self.pages = []
        self.clock.advance(self.tick)
        response = await self.http.get(AUTHORIZE, params=params)
        for _ in range(10):
            self.clock.advance(self.tick)
            if response.status_code in (302, 303):
                location = response.headers["location"]
                if not location.startswith("/"):
                    return response
                path = urlsplit(location).path
                self.pages.append(path)
                if path == "/login":
                    response = await self._login(location)
                elif path == "/login/mfa":
                    response = await self._second_factor(location)
                else:
                    response = await self.http.get(location)
            elif response.status_code == 200 and 'action="/oauth/consent"' in response.text:
                self.pages.append("/oauth/consent")
                if decision is None:
                    return response
                response = await self.consent(response, decision)
            else:
                return response
        raise AssertionError("the authorization flow did not finish")

    async def consent(self, page: httpx.Response, decision: str) -> httpx.Response:
        sealed = _SEALED.search(page.text)
        csrf = _CSRF.search(page.text)
        assert sealed and csrf, "not a consent page"
        return await self.http.post(
            "/oauth/consent",
            data={"sealed": sealed.group(1), "decision": decision, "csrf_token": csrf.group(1)},
        )

    async def login(self) -> None:
        """Sign in directly (outside any authorization request)."""
        response = await self._login("/login?next=/account")
        if response.headers.get("location", "").startswith("/login/mfa"):
            response = await self._second_factor(response.headers["location"])
        assert response.status_code == 303, response.text

    async def _login(self, location: str) -> httpx.Response:
        page = await self.http.get(location)
        if page.status_code == 303:  # already signed in
            return page
        csrf = _CSRF.search(page.text)
        assert csrf, "no login form"
        next_url = parse_qs(urlsplit(location).query).get("next", ["/account"])[0]
        return await self.http.post(
            "/login",
            data={
                "username": self.username,
                "password": self.password,
                "csrf_token": csrf.group(1),
                "next": next_url,
            },
        )

    async def _second_factor(self, location: str) -> httpx.Response:
        assert self.totp_secret is not None, "the user has a second factor"
        page = await self.http.get(location)
        csrf = _CSRF.search(page.text)
        assert csrf, "no second-factor form"
        next_url = parse_qs(urlsplit(location).query).get("next", ["/account"])[0]
        code = pyotp.TOTP(self.totp_secret).at(self.clock.now())
        return await self.http.post(
            "/login/mfa", data={"code": code, "csrf_token": csrf.group(1), "next": next_url}
        )


async def code_flow(
    browser: Browser,
    client: Registered,
    redirect_uri: str,
    scope: str = "openid orders:read",
    **extra: str,
) -> dict[str, Any]:
    """The whole authorization code flow with PKCE: returns the token response."""
    pkce = Pkce.new()
    params = code_request(client, redirect_uri, scope, pkce, **extra)
    result = redirect_params(await browser.authorize(params), redirect_uri)
    assert "code" in result, result
    response = await redeem(browser.http, client, result["code"], redirect_uri, pkce.verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def redeem(
    http: httpx.AsyncClient,
    client: Registered,
    code: str,
    redirect_uri: str,
    verifier: str | None,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return await token_request(http, form, client, method="basic" if client.secret else "none")


async def refresh(
    http: httpx.AsyncClient, client: Registered, refresh_token: str, **form: str
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    return await token_request(http, data, client, method="basic" if client.secret else "none")
