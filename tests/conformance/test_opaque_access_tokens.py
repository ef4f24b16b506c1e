"""Opaque (reference) access tokens, chosen per API (spec §5), and API keys at the
introspection endpoint.

An API registered with ``token_format = "opaque"`` gets ``agat_`` tokens from every grant
that issues for it; resource servers learn what they mean by introspection (RFC 7662
§2.2), and they end like JWTs do: on expiry, on revocation (RFC 7009 §2), and when their
user or client is disabled (spec §7). AuthGate keeps only their keyed digest.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.errors import Conflict
from authgate.protocol.tokens import left_hash
from authgate.storage.models import AccessTokenRow, Base
from authgate.storage.repositories import RevocationLog
from authgate.tokens.engine import build_engine
from tests.conformance.conftest import (
    ORDERS,
    REVOKE,
    USERINFO,
    WEB_REDIRECT,
    Browser,
    Registered,
    assert_oauth_error,
    client_credentials,
    code_flow,
    introspect,
    refresh,
    sqlite_only,
    token_request,
    verify_jwt,
)

LEDGER = "https://ledger.example.com"
LEDGER_PERMISSIONS = ("ledger:read", "ledger:write")
INACTIVE = {"active": False}
TTL = 15 * 60


def assert_opaque(token: str) -> None:
    """``agat_`` and at least 256 random bits (43 base64url characters); not a JWT."""
    assert token.startswith("agat_"), token
    assert len(token) >= len("agat_") + 43
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(token)


# -- the world: an API that chose opaque tokens, its callers ------------------------------


@pytest.fixture
async def ledger(container: Container, apis: None) -> None:
    await container.apis.create(
        CLI,
        audience=LEDGER,
        name="Ledger",
        permissions=list(LEDGER_PERMISSIONS),
        token_format="opaque",
    )


@pytest.fixture
async def bookkeeper(container: Container, ledger: None) -> Registered:
    """A client-credentials client for the ledger and orders APIs holding ledger:read and
    orders:read."""
    client, secret = await container.clients.create(
        CLI, name="Bookkeeper", grant_types=["client_credentials"], audiences=[LEDGER, ORDERS]
    )
    await container.access.create_role(CLI, "books", ["ledger:read", "orders:read"])
    await container.access.bind(CLI, "books", f"client:{client.client_id}", "/")
    return Registered(client.client_id, secret)


@pytest.fixture
async def ledger_server(container: Container, ledger: None) -> Registered:
    """The ledger API itself, as a confidential client that introspects tokens."""
    client, secret = await container.clients.create(
        CLI, name="Ledger API", grant_types=["client_credentials"], audiences=[LEDGER]
    )
    return Registered(client.client_id, secret)


@pytest.fixture
async def ledger_app(container: Container, ledger: None, alice: str) -> Registered:
    """A web application using the code flow for the ledger API; alice reads the ledger."""
    await container.access.create_role(CLI, "ledger-reader", ["ledger:read"])
    await container.access.bind(CLI, "ledger-reader", "user:alice", "/")
    client, secret = await container.clients.create(
        CLI,
        name="Ledger app",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[WEB_REDIRECT],
        audiences=[LEDGER],
    )
    return Registered(client.client_id, secret)


async def _revoke(http: httpx.AsyncClient, client: Registered, token: str) -> None:
    response = await token_request(http, {"token": token}, client, path=REVOKE)
    assert response.status_code == 200, response.text


# -- issuing ------------------------------------------------------------------------------


async def test_client_credentials_issues_an_opaque_token(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    """RFC 6749 §4.4.3 / §5.1: a Bearer token for the API; RFC 7662 §2.2: introspection
    tells the API what a JWT would have said."""
    tokens = await client_credentials(http, bookkeeper, resource=LEDGER)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == TTL
    assert tokens["scope"] == "ledger:read"
    assert_opaque(tokens["access_token"])
    body = await introspect(http, ledger_server, tokens["access_token"])
    now = int(clock.now().timestamp())
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "ledger:read"
    assert body["client_id"] == body["sub"] == bookkeeper.client_id
    assert body["aud"] == LEDGER
    assert body["iss"] == container.settings.issuer
    assert body["iat"] == now and body["exp"] == now + TTL
    assert isinstance(body["jti"], str) and body["jti"]


async def test_code_and_refresh_grants_issue_opaque_tokens(
    browser: Browser, ledger_app: Registered, ledger_server: Registered, alice: str
) -> None:
    """RFC 6749 §4.1.4 and §6: both grants issue opaque tokens for the API; the ID token's
    ``at_hash`` covers the opaque token (OpenID Connect Core §3.1.3.6) and UserInfo
    accepts it (§5.3)."""
    scope = "openid offline_access ledger:read"
    tokens = await code_flow(browser, ledger_app, WEB_REDIRECT, scope)
    assert_opaque(tokens["access_token"])
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token["at_hash"] == left_hash(tokens["access_token"])
    body = await introspect(browser.http, ledger_server, tokens["access_token"])
    assert body["active"] is True
    assert body["sub"] == alice and body["client_id"] == ledger_app.client_id
    assert body["aud"] == LEDGER and body["scope"] == scope
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = await browser.http.get(USERINFO, headers=bearer)
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == alice

    refreshed = await refresh(browser.http, ledger_app, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    renewed = refreshed.json()["access_token"]
    assert_opaque(renewed)
    assert renewed != tokens["access_token"]
    body = await introspect(browser.http, ledger_server, renewed)
    assert body["active"] is True and body["sub"] == alice


async def test_jwt_apis_keep_jwts(
    http: httpx.AsyncClient, container: Container, bookkeeper: Registered
) -> None:
    """Spec §5: the choice is per API; an API that did not make it gets RFC 9068 JWTs."""
    token = (await client_credentials(http, bookkeeper, resource=ORDERS))["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = await verify_jwt(http, token, audience=ORDERS, issuer=container.settings.issuer)
    assert claims["client_id"] == bookkeeper.client_id


async def test_userinfo_tokens_stay_jwts(
    browser: Browser, container: Container, ledger_app: Registered
) -> None:
    """A token that names no API (``openid`` only) is for UserInfo, and is a JWT even
    when the client is registered for an API with opaque tokens."""
    tokens = await code_flow(browser, ledger_app, WEB_REDIRECT, "openid")
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"


@sqlite_only
async def test_authgates_own_api_keeps_jwts(http: httpx.AsyncClient, container: Container) -> None:
    """Spec §4: tokens for AuthGate's own API are JWTs; an API record with its audience
    asking for opaque tokens cannot even be made."""
    admin = container.oauth.config.admin_audience
    with pytest.raises(Conflict, match="AuthGate's own API"):
        await container.apis.create(
            CLI,
            audience=admin,
            name="Shadow",
            permissions=["authgate:evaluate"],
            token_format="opaque",
        )
    client, secret = await container.clients.create(
        CLI, name="PEP", grant_types=["client_credentials"], audiences=[admin]
    )
    await container.access.create_role(CLI, "pep", ["authgate:evaluate"])
    await container.access.bind(CLI, "pep", f"client:{client.client_id}", "/")
    tokens = await client_credentials(
        http, Registered(client.client_id, secret), resource=admin, scope="authgate:evaluate"
    )
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"


# -- who may see them ---------------------------------------------------------------------


async def test_described_only_to_its_client_and_its_api(
    http: httpx.AsyncClient,
    container: Container,
    bookkeeper: Registered,
    ledger_server: Registered,
    resource_server: Registered,
) -> None:
    """RFC 7662 §4: the client the token was issued to and the API it is for see it; a
    resource server of another API learns only ``active: false``."""
    token = (await client_credentials(http, bookkeeper, resource=LEDGER))["access_token"]
    assert (await introspect(http, bookkeeper, token))["active"] is True
    assert (await introspect(http, ledger_server, token))["active"] is True
    assert await introspect(http, resource_server, token) == INACTIVE


# -- how they end -------------------------------------------------------------------------


async def test_revocation_ends_an_opaque_token(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    """RFC 7009 §2.1: only the client it was issued to may revoke it; then it is inactive
    everywhere, and the revocation feed names its ``jti``."""
    token = (await client_credentials(http, bookkeeper, resource=LEDGER))["access_token"]
    jti = (await introspect(http, ledger_server, token))["jti"]
    await _revoke(http, ledger_server, token)  # not its client: 200, nothing happens (§2.2)
    assert (await introspect(http, ledger_server, token))["active"] is True
    assert await container.credentials.resolve(token, audience=LEDGER) is not None

    await _revoke(http, bookkeeper, token)
    assert await introspect(http, ledger_server, token) == INACTIVE
    assert await introspect(http, bookkeeper, token) == INACTIVE
    assert await container.credentials.resolve(token, audience=LEDGER) is None
    async with container.db.transaction() as session:
        events = await RevocationLog(session).since(0, clock.now())
    assert ("jti", jti) in {(event.kind, event.value) for event in events}


async def test_expiry_ends_an_opaque_token(
    http: httpx.AsyncClient,
    container: Container,
    clock: FrozenClock,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    """RFC 7662 §2.2: an expired token is inactive; housekeeping then deletes its record."""
    token = (await client_credentials(http, bookkeeper, resource=LEDGER))["access_token"]
    clock.advance(timedelta(seconds=TTL - 1))
    assert (await introspect(http, ledger_server, token))["active"] is True
    clock.advance(timedelta(seconds=2))
    assert await introspect(http, ledger_server, token) == INACTIVE
    purged = await container.purge_expired()  # what the server's housekeeping runs
    assert purged["access_tokens"] >= 1
    async with container.db.transaction() as session:
        row = await session.get(AccessTokenRow, container.digester.digest(token))
    assert row is None


@pytest.mark.parametrize(
    "change", ["disable-user", "disable-client", "delete-client"], ids=lambda change: change
)
async def test_disabling_the_holder_ends_opaque_tokens(
    browser: Browser,
    container: Container,
    ledger_app: Registered,
    ledger_server: Registered,
    change: str,
) -> None:
    """Spec §7: disabling (or deleting) the user or the client ends its tokens at once."""
    tokens = await code_flow(browser, ledger_app, WEB_REDIRECT, "ledger:read")
    assert (await introspect(browser.http, ledger_server, tokens["access_token"]))["active"]
    if change == "disable-user":
        await container.users.set_disabled("alice", True, CLI)
    elif change == "disable-client":
        await container.clients.set_disabled(ledger_app.client_id, True, CLI)
    else:
        await container.clients.delete(ledger_app.client_id, CLI)
    assert await introspect(browser.http, ledger_server, tokens["access_token"]) == INACTIVE


async def test_disabling_a_service_client_ends_its_opaque_tokens(
    http: httpx.AsyncClient,
    container: Container,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    token = (await client_credentials(http, bookkeeper, resource=LEDGER))["access_token"]
    await container.clients.set_disabled(bookkeeper.client_id, True, CLI)
    assert await introspect(http, ledger_server, token) == INACTIVE


@pytest.mark.parametrize(
    "token",
    ["agat_" + "A" * 43, "agat_", "agat_" + "x" * 5000, "agat_" + secrets.token_urlsafe(32)],
    ids=["forged", "empty", "huge", "random"],
)
@sqlite_only
async def test_forged_opaque_tokens_are_inactive(
    http: httpx.AsyncClient, bookkeeper: Registered, ledger_server: Registered, token: str
) -> None:
    """RFC 7662 §2.2; RFC 7009 §2.2 answers 200 for a token it does not know."""
    assert await introspect(http, ledger_server, token) == INACTIVE
    await _revoke(http, bookkeeper, token)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await http.get(USERINFO, headers=bearer)).status_code == 401


# -- storage ------------------------------------------------------------------------------


async def test_only_the_digest_is_stored(
    http: httpx.AsyncClient,
    container: Container,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    """Spec §5 / STYLE 7: the token is recorded before it is returned, under its keyed
    digest, with the claims a JWT would carry; the token itself is nowhere in the
    database."""
    token = (await client_credentials(http, bookkeeper, resource=LEDGER))["access_token"]
    described = await introspect(http, ledger_server, token)
    async with container.db.transaction() as session:
        row = await session.get(AccessTokenRow, container.digester.digest(token))
        assert row is not None
        assert set(row.claims) == {"iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope"}
        for name in row.claims:
            assert row.claims[name] == described[name]
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            assert token not in repr(rows), f"the token is stored in {table.name}"
            assert token.removeprefix("agat_") not in repr(rows), table.name


# -- API keys at the introspection endpoint (spec §5) --------------------------------------


class OneKey:
    """An API-key store holding one live key: what introspection asks of the real one."""

    def __init__(self, key: str, description: dict[str, Any]) -> None:
        self._key = key
        self._description = description

    async def introspect(self, key: str) -> dict[str, Any] | None:
        if not hmac.compare_digest(key.encode(), self._key.encode()):
            return None
        return dict(self._description)


def _with_api_keys(container: Container, keys: OneKey) -> None:
    """The engine as the composition root builds it, with an API-key port."""
    built = build_engine(
        container.oauth.config,
        store=container.oauth.store,
        signer=container.oauth.signer,
        clients=container.clients,
        apis=container.apis,
        policy=container.engine,
        users=container.users,
        digest=container.digester.digest,
        now=container.clock.now,
        api_keys=keys,
    )
    container.oauth = dataclasses.replace(container.oauth, introspection=built.introspection)


def _key_description(container: Container, owner: str, client_id: str | None) -> dict[str, Any]:
    now = int(container.clock.now().timestamp())
    described: dict[str, Any] = {
        "sub": owner,
        "scope": "ledger:read",
        "iat": now,
        "exp": now + 86400,
        "token_type": "api_key",
        "subject_type": "client" if client_id else "user",
        "key_id": "k-1",
    }
    if client_id is not None:
        described["client_id"] = client_id
    return described


async def test_api_key_is_described_to_its_client_and_resource_servers(
    http: httpx.AsyncClient,
    container: Container,
    bookkeeper: Registered,
    ledger_server: Registered,
) -> None:
    """RFC 7662 §2.2 and §4 for API keys: the owning client and a resource server (a
    client registered for an API) see ``active: true`` and what the key is."""
    key = "agk_" + secrets.token_urlsafe(24)
    described = _key_description(container, bookkeeper.client_id, bookkeeper.client_id)
    _with_api_keys(container, OneKey(key, described))
    for caller in (bookkeeper, ledger_server):
        body = await introspect(http, caller, key)
        assert body == {"active": True, **described}


async def test_api_key_is_hidden_from_other_clients(
    http: httpx.AsyncClient, container: Container, ledger_server: Registered, alice: str
) -> None:
    """RFC 7662 §4: a client that neither owns the key nor serves an API learns only
    ``active: false``; a user's key is seen by resource servers."""
    key = "agk_" + secrets.token_urlsafe(24)
    _with_api_keys(container, OneKey(key, _key_description(container, alice, None)))
    other, secret = await container.clients.create(
        CLI, name="Unrelated", grant_types=["client_credentials"]
    )
    assert await introspect(http, Registered(other.client_id, secret), key) == INACTIVE
    body = await introspect(http, ledger_server, key)
    assert body["active"] is True and body["sub"] == alice and "client_id" not in body


@sqlite_only
async def test_unknown_api_keys_are_inactive(
    http: httpx.AsyncClient, container: Container, ledger_server: Registered, spa: Registered
) -> None:
    """RFC 7662 §2.2: a key that is not live is ``active: false``; §2.1: a public client
    still may not introspect."""
    key = "agk_" + secrets.token_urlsafe(24)
    assert await introspect(http, ledger_server, key) == INACTIVE  # no key store wired
    _with_api_keys(container, OneKey(key, _key_description(container, "u-1", None)))
    assert await introspect(http, ledger_server, "agk_" + secrets.token_urlsafe(24)) == INACTIVE
    response = await token_request(
        http, {"token": key}, spa, method="none", path="/oauth/introspect"
    )
    assert_oauth_error(response, "invalid_client", 401)
