"""Spec §7: while PostgreSQL is unreachable AuthGate answers 503 + Retry-After, keeps
serving what needs no database, and recovers by itself when it returns."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.proxy import TcpRelay
from tests.support.server import init_data_dir, running_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def relay(backend_env: dict[str, str]) -> Iterator[tuple[TcpRelay, dict[str, str]]]:
    if "AUTHGATE_DATABASE_URL" not in backend_env:
        pytest.skip("the outage is played on PostgreSQL through a TCP relay")
    url = urlsplit(backend_env["AUTHGATE_DATABASE_URL"])
    relay = TcpRelay((url.hostname or "127.0.0.1", url.port or 5432))
    relay.start()
    relayed = url._replace(netloc=f"{url.username}@127.0.0.1:{relay.port}").geturl()
    yield relay, {"AUTHGATE_DATABASE_URL": relayed}
    relay.stop()


def _login(client: httpx.Client) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token, page.text
    return client.post(
        "/login",
        data={"username": "demo", "password": "demo-password", "csrf_token": token.group(1)},
    )


def test_outage_and_recovery(data_dir: Path, relay: tuple[TcpRelay, dict[str, str]]) -> None:
    proxy, env = relay
    init_data_dir(data_dir, env)
    with (
        running_server(data_dir, env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert _login(client).status_code == 303
        client.cookies.clear()
        proxy.stop()
        down = _login(client)
        assert down.status_code == 503
        assert down.json()["error"] == "temporarily_unavailable"
        assert int(down.headers["retry-after"]) > 0
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unreachable"
        # Needs no database: liveness and the (cached) JWKS keep answering.
        assert client.get("/healthz").status_code == 200
        assert client.get("/.well-known/jwks.json").status_code == 200
        proxy.start()
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, (
                "AuthGate did not recover after the database returned"
            )
            time.sleep(0.5)
        client.cookies.clear()
        assert _login(client).status_code == 303
        assert "Traceback" not in server.log()
