"""One real ``authgate serve`` for the interop package, set up through the CLI, plus what
the third-party-client tests share: a user agent that signs in and consents over plain
HTTP, and token checks against the published JWKS with PyJWT.

The server is package-scoped (one per backend for the whole folder); every client the
tests need is registered before it starts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest

from tests.conftest import BACKENDS, POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.support.server import authgate, init_data_dir, running_server

API_AUDIENCE = "https://orders.interop.example"
API_PERMISSIONS = ("orders:read", "orders:write")
REDIRECT_URI = "https://app.interop.example/callback"
USERNAME = "demo"
PASSWORD = "demo-password"
USER_SCOPE = "openid profile email offline_access orders:read orders:write"

#: name -> options of ``authgate client create``
CLIENTS: dict[str, list[str]] = {
    # client credentials, registered for Basic; one registered for post
    "service-basic": ["--grant-type", "client_credentials"],
    "service-post": ["--grant-type", "client_credentials", "--auth-method", "client_secret_post"],
    # authorization code + refresh: confidential, and public (PKCE, no secret)
    "web-authlib": ["--grant-type", "authorization_code", "--grant-type", "refresh_token"],
    "spa-authlib": [
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--public",
    ],
    "service-node": ["--grant-type", "client_credentials"],
    "web-node": ["--grant-type", "authorization_code", "--grant-type", "refresh_token"],
    "spa-node": [
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--public",
    ],
}


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str | None


@dataclass
class InteropServer:
    url: str
    metadata: dict[str, Any]
    clients: dict[str, RegisteredClient]
    jwks: jwt.PyJWKClient = field(repr=False)

    @property
    def issuer(self) -> str:
        return str(self.metadata["issuer"])


def _register(data_dir: Path, env: dict[str, str]) -> dict[str, RegisteredClient]:
    def cli(*args: str) -> dict[str, Any]:
        return json.loads(authgate(data_dir, *args, env=env).stdout)  # type: ignore[no-any-return]

    permissions = [arg for p in API_PERMISSIONS for arg in ("--permission", p)]
    cli("api", "create", "--audience", API_AUDIENCE, "--name", "Orders", *permissions, "--json")
    # The user holds every permission of the API; the service clients only orders:read,
    # so a client-credentials request for both is granted orders:read alone.
    authgate(data_dir, "role", "create", "orders-clerk", *permissions, env=env)
    authgate(data_dir, "role", "create", "orders-reader", "--permission", "orders:read", env=env)
    authgate(data_dir, "bind", "orders-clerk", "--user", USERNAME, env=env)
    registered: dict[str, RegisteredClient] = {}
    for name, options in CLIENTS.items():
        created = cli(
            "client",
            "create",
            "--name",
            f"Interop {name}",
            "--audience",
            API_AUDIENCE,
            "--redirect-uri",
            REDIRECT_URI,
            *options,
            "--json",
        )
        registered[name] = RegisteredClient(created["client_id"], created.get("client_secret"))
        if name.startswith("service-"):
            authgate(data_dir, "bind", "orders-reader", "--client", created["client_id"], env=env)
    return registered


@pytest.fixture(scope="package", params=BACKENDS)
def interop_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InteropServer]:
    env: dict[str, str] = {}
    database_url = None
    if request.param == "postgresql":
        assert POSTGRES_URL
        database_url = asyncio.run(create_postgres_database(POSTGRES_URL))
        env["AUTHGATE_DATABASE_URL"] = database_url
    data_dir = tmp_path_factory.mktemp("interop") / "data"
    try:
        init_data_dir(data_dir, env)
        clients = _register(data_dir, env)
        with running_server(data_dir, env) as server:
            response = httpx.get(server.url + "/.well-known/openid-configuration")
            assert response.status_code == 200, response.text
            metadata = response.json()
            jwks = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=True)
            yield InteropServer(server.url, metadata, clients, jwks)
    finally:
        if database_url is not None:
            assert POSTGRES_URL
            asyncio.run(drop_postgres_database(POSTGRES_URL, database_url))


# -- tokens -----------------------------------------------------------------------------


def verify_access_token(
    server: InteropServer, token: str, *, client_id: str, audience: str = API_AUDIENCE
) -> dict[str, Any]:
    """RFC 9068 §4: signature from the JWKS, ``typ``, ``iss``, ``aud``, ``exp``."""
    key = server.jwks.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["typ"].lower() in ("at+jwt", "application/at+jwt"), header
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=server.issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]},
    )
    assert claims["client_id"] == client_id
    return claims


def verify_id_token(
    server: InteropServer,
    token: str,
    *,
    client_id: str,
    nonce: str | None,
    access_token: str | None = None,
) -> dict[str, Any]:
    """OpenID Connect Core §3.1.3.7: signature, iss, aud, exp, nonce, at_hash."""
    key = server.jwks.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] in server.metadata["id_token_signing_alg_values_supported"]
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=client_id,
        issuer=server.issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    assert claims.get("nonce") == nonce
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode()).digest()
        expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        assert claims["at_hash"] == expected
    return claims


def introspect(server: InteropServer, client: RegisteredClient, token: str) -> dict[str, Any]:
    """RFC 7662 with Basic credentials, independent of the library under test."""
    assert client.client_secret is not None
    response = httpx.post(
        server.metadata["introspection_endpoint"],
        data={"token": token},
        auth=(client.client_id, client.client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- the user agent ---------------------------------------------------------------------


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: dict[str, list[str]] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The forms of a page: hidden and text inputs with their values, and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(a.get("action", ""), a.get("method", "get").lower()))
        elif self.forms and tag == "input" and "name" in a:
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and "name" in a:
            self.forms[-1].buttons.setdefault(a["name"], []).append(a.get("value", ""))


def _form(response: httpx.Response, action: str) -> _Form:
    parser = _Forms()
    parser.feed(response.text)
    for form in parser.forms:
        if form.action == action and form.method == "post":
            return form
    raise AssertionError(f"no form posting to {action} on {response.url}:\n{response.text}")


@dataclass
class Callback:
    url: str
    pages: list[str]

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}


def sign_in_and_consent(
    authorization_url: str,
    *,
    redirect_uri: str = REDIRECT_URI,
    username: str = USERNAME,
    password: str = PASSWORD,
) -> Callback:
    """Follow the authorization request like a browser would, filling in the login and
    consent forms (with their CSRF tokens), until AuthGate redirects to the client."""
    pages: list[str] = []
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        response = browser.get(authorization_url)
        for _ in range(12):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(redirect_uri):
                    assert response.status_code == 302, response.status_code
                    return Callback(target, pages)
                response = browser.get(target)
                continue
            assert response.status_code == 200, f"{response.url}: {response.status_code}"
            path = response.url.path
            if path == "/login":
                pages.append("login")
                form = _form(response, "/login")
                data = {**form.fields, "username": username, "password": password}
                response = browser.post(urljoin(str(response.url), form.action), data=data)
            elif "/oauth/consent" in response.text:
                pages.append("consent")
                form = _form(response, "/oauth/consent")
                assert "allow" in form.buttons.get("decision", []), form
                data = {**form.fields, "decision": "allow"}
                response = browser.post(urljoin(str(response.url), form.action), data=data)
            else:
                raise AssertionError(f"unexpected page {response.url}:\n{response.text}")
    raise AssertionError(f"no redirect to {redirect_uri} after {pages}")
