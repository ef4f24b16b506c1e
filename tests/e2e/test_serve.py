"""A real `authgate init` + `authgate serve`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest

from authgate.container import Container
from authgate.settings import load_settings
from tests.support.server import authgate, authgate_process, init_data_dir, running_server

pytestmark = pytest.mark.slow


def _sign_with_stored_key(data_dir: Path, env: dict[str, str], alg: str) -> tuple[str, str]:
    """Sign a token with the private key as stored (sealed) in the data directory."""
    from joserfc import jwt

    async def work() -> tuple[str, str]:
        settings = load_settings(data_dir=data_dir, database_url=env.get("AUTHGATE_DATABASE_URL"))
        container = Container.build(settings)
        try:
            kid, key = await container.keys.signing_key(alg)
            token = jwt.encode({"alg": alg, "kid": kid}, {"sub": "e2e"}, key, algorithms=[alg])
            return kid, token
        finally:
            await container.close()

    return asyncio.run(work())


def _jwks(url: str) -> dict[str, list[dict[str, str]]]:
    response = httpx.get(url + "/.well-known/jwks.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_fresh_install_serves_a_jwks_that_verifies_stored_keys(
    data_dir: Path, backend_env: dict[str, str]
) -> None:
    init_data_dir(data_dir, backend_env)
    with running_server(data_dir, backend_env) as server:
        discovery = httpx.get(server.url + "/.well-known/openid-configuration").json()
        assert discovery["issuer"] == server.url
        assert discovery["jwks_uri"] == server.url + "/.well-known/jwks.json"
        jwks = _jwks(server.url)
        for alg in ("ES256", "RS256", "EdDSA"):
            kid, token = _sign_with_stored_key(data_dir, backend_env, alg)
            public = next(k for k in jwks["keys"] if k["kid"] == kid)
            claims = pyjwt.decode(token, pyjwt.PyJWK(public).key, algorithms=[alg])
            assert claims["sub"] == "e2e"


def test_key_rotation_keeps_old_keys_published(data_dir: Path, backend_env: dict[str, str]) -> None:
    init_data_dir(data_dir, backend_env)
    with running_server(data_dir, backend_env) as server:
        before = {k["kid"] for k in _jwks(server.url)["keys"]}
        out = server.cli("keys", "rotate").stdout
        assert "signs from" in out
        deadline = time.monotonic() + 10  # the server re-reads keys every 5 s
        while time.monotonic() < deadline:
            after = {k["kid"] for k in _jwks(server.url)["keys"]}
            if len(after) == 6:
                break
            time.sleep(0.5)
        assert before < after, "new keys are published next to the old ones"
        listed = json.loads(server.cli("keys", "list", "--json").stdout)["keys"]
        states = {k["kid"]: k["state"] for k in listed}
        assert {states[kid] for kid in before} == {"active"}  # old keys still sign
        assert {states[kid] for kid in after - before} == {"next"}


def test_demo_login_over_http(data_dir: Path, backend_env: dict[str, str]) -> None:
    init_data_dir(data_dir, backend_env)
    with (
        running_server(data_dir, backend_env) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert token
        response = client.post(
            "/login",
            data={"username": "demo", "password": "demo-password", "csrf_token": token.group(1)},
        )
        assert response.status_code == 303
        assert "demo" in client.get("/account").text
        assert "demo-password" not in server.log(), "no secret is ever logged"
        assert '"request_id"' in server.log()


def test_serve_refuses_an_unmigrated_database(data_dir: Path, backend_env: dict[str, str]) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "master.key").write_text("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\n")
    result = authgate_process(data_dir, "serve", "--port", "1", env=backend_env)
    assert result.returncode != 0
    assert "authgate init" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_is_idempotent(data_dir: Path, backend_env: dict[str, str]) -> None:
    init_data_dir(data_dir, backend_env)
    again = authgate(data_dir, "init", "--demo", env=backend_env)
    assert "exists already" in again.stdout
    users = json.loads(authgate(data_dir, "user", "list", "--json", env=backend_env).stdout)[
        "users"
    ]
    assert sorted(u["username"] for u in users) == ["admin", "demo"]
