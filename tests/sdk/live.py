"""A real ``authgate serve`` (one per backend and test module) set up through the CLI for
the SDK's end-to-end tests: the revocation feed, introspection of API keys and opaque
tokens, AuthZEN decisions.

What it holds: the orders API (JWT access tokens), the reports API (opaque access tokens),
the docs API (permissions for resource-level decisions), a client-credentials service, the
orders API's own confidential client (introspection and the feed), a decision client
holding ``authgate:evaluate``, a web application for users, and users whose access the
tests end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.interop.conftest import sign_in_and_consent
from tests.support.server import RunningServer, authgate, init_data_dir, running_server

ORDERS = "https://orders.live.example"
REPORTS = "https://reports.live.example"
DOCS = "https://docs.live.example"
REDIRECT_URI = "https://app.live.example/callback"
PASSWORD = "a-long-enough-password-for-tests"


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str

    @property
    def basic(self) -> tuple[str, str]:
        return self.client_id, self.secret


@dataclass
class Live:
    server: RunningServer
    service: Client  # client credentials: orders:read, reports:read
    orders_api: Client  # the resource server's own client (introspection, feed)
    pep: Client  # holds authgate:evaluate
    web: Client  # authorization code for users

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        """A CLI command's ``--json`` output."""
        return json.loads(self.server.cli(*args, "--json", stdin=stdin).stdout)

    def client_token(
        self, client: Client | None = None, resource: str = ORDERS, scope: str = "orders:read"
    ) -> str:
        response = httpx.post(
            self.url + "/oauth/token",
            data={"grant_type": "client_credentials", "resource": resource, "scope": scope},
            auth=(client or self.service).basic,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def revoke(self, token: str, client: Client | None = None) -> None:
        """RFC 7009 §2.1, by the client the token was issued to."""
        response = httpx.post(
            self.url + "/oauth/revoke",
            data={"token": token},
            auth=(client or self.service).basic,
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def new_user(self) -> str:
        """A user holding orders:read, with a password; returns the username."""
        username = "user-" + secrets.token_hex(4)
        self.server.cli("user", "create", username, "--password-stdin", stdin=PASSWORD + "\n")
        self.server.cli("bind", "orders-reader", "--user", username)
        return username

    def api_key(self, *options: str) -> dict[str, Any]:
        """``authgate apikey create``'s JSON (``key`` is the key, shown once)."""
        created: dict[str, Any] = self.cli("apikey", "create", *options)
        return created

    def new_client(self) -> Client:
        """A client-credentials client holding orders:read."""
        created = self.cli("client", "create", "--name", "client-" + secrets.token_hex(4),
                           "--grant-type", "client_credentials", "--audience", ORDERS)  # fmt: skip
        self.server.cli("bind", "orders-reader", "--client", created["client_id"])
        return Client(created["client_id"], created["client_secret"])

    def user_token(self, username: str) -> str:
        """An access token for the orders API from the authorization code flow."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.web.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid orders:read",
                "resource": ORDERS,
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        callback = sign_in_and_consent(
            f"{self.url}/oauth/authorize?{query}",
            redirect_uri=REDIRECT_URI,
            username=username,
            password=PASSWORD,
        )
        response = httpx.post(
            self.url + "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": callback.params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=self.web.basic,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def _client(data_dir: Path, env: dict[str, str], name: str, *options: str) -> Client:
    created = json.loads(
        authgate(data_dir, "client", "create", "--name", name, *options, "--json", env=env).stdout
    )
    return Client(created["client_id"], created["client_secret"])


def _set_up(data_dir: Path, env: dict[str, str]) -> dict[str, Client]:
    def cli(*args: str) -> None:
        authgate(data_dir, *args, env=env)

    cli("api", "create", "--audience", ORDERS, "--name", "Orders",
        "--permission", "orders:read", "--permission", "orders:write")  # fmt: skip
    cli("api", "create", "--audience", REPORTS, "--name", "Reports",
        "--permission", "reports:read", "--token-format", "opaque")  # fmt: skip
    cli("api", "create", "--audience", DOCS, "--name", "Docs",
        "--permission", "doc:read", "--permission", "doc:edit")  # fmt: skip
    cli("role", "create", "orders-reader", "--permission", "orders:read")
    cli("role", "create", "reports-reader", "--permission", "reports:read")
    cli("role", "create", "doc-editor", "--permission", "doc:read", "--permission", "doc:edit")
    cli("role", "create", "pep", "--permission", "authgate:evaluate")
    cc = ("--grant-type", "client_credentials")
    clients = {
        "service": _client(
            data_dir, env, "Order sync", *cc, "--audience", ORDERS, "--audience", REPORTS
        ),
        "orders_api": _client(
            data_dir, env, "Orders API", *cc, "--audience", ORDERS, "--audience", REPORTS
        ),
        "pep": _client(data_dir, env, "Orders gateway", *cc),
        "web": _client(
            data_dir,
            env,
            "Shop",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            REDIRECT_URI,
            "--audience",
            ORDERS,
        ),
    }
    for role in ("orders-reader", "reports-reader"):
        cli("bind", role, "--client", clients["service"].client_id)
    cli("bind", "pep", "--client", clients["pep"].client_id)
    cli("user", "create", "ursula", "--id", "u-ursula")
    cli("bind", "orders-reader", "--user", "ursula")
    cli("user", "create", "dora", "--id", "u-dora")
    cli("bind", "doc-editor", "--user", "dora", "--scope", "doc:42")
    return clients


@contextmanager
def live_server(backend: str) -> Iterator[Live]:
    """The server on ``backend`` ("sqlite" or "postgresql"), stopped (by its PID) after."""
    env: dict[str, str] = {}
    database_url = None
    if backend == "postgresql":
        assert POSTGRES_URL
        database_url = asyncio.run(create_postgres_database(POSTGRES_URL))
        env["AUTHGATE_DATABASE_URL"] = database_url
    try:
        with tempfile.TemporaryDirectory(prefix="authgate-sdk-") as tmp:
            data_dir = Path(tmp) / "data"
            init_data_dir(data_dir, env, demo=False)
            clients = _set_up(data_dir, env)
            with running_server(data_dir, env) as server:
                yield Live(server, **clients)
    finally:
        if database_url is not None:
            assert POSTGRES_URL
            asyncio.run(drop_postgres_database(POSTGRES_URL, database_url))
