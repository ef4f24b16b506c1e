"""Forward auth end to end (PRODUCT §6): real nginx (``auth_request``) and real Caddy
(``forward_auth``), started here on free loopback ports with the configurations of
examples/orders_api/ (those docs/forward-auth.md shows), in front of the example orders
API and a real ``authgate serve``; and the same API protected by the SDK instead.

Credentials come from the real token endpoint and the real CLI: client tokens, a token
that only a scoped binding lets read one order, API keys (``X-API-Key`` and Bearer),
revoked ones, wrong permissions and none. RFC 6750 §3 challenges reach the client.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import (
    RunningServer,
    authgate,
    free_port,
    init_data_dir,
    running_server,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "orders_api"
ORDERS = "https://orders.example.com"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
CADDY = shutil.which("caddy")
PROXIES = [
    pytest.param(
        "nginx",
        marks=pytest.mark.skipif(NGINX is None, reason="nginx is not installed (nginx-light)"),
    ),
    pytest.param("caddy", marks=pytest.mark.skipif(CADDY is None, reason="caddy is not installed")),
]
REALM = 'Bearer realm="authgate"'
ROUTES_TOML = f"""
[forward_auth]
cache_ttl = "5s"

[[forward_auth.routes]]
path = "/health"
public = true

[[forward_auth.routes]]
methods = ["GET", "HEAD"]
path = "/orders"
permission = "orders:read"
audience = "{ORDERS}"

[[forward_auth.routes]]
methods = ["POST"]
path = "/orders"
permission = "orders:write"
audience = "{ORDERS}"

[[forward_auth.routes]]
methods = ["GET"]
path = "/orders/{{order_id}}"
permission = "orders:read"
audience = "{ORDERS}"
resource = "order:{{order_id}}"

[[forward_auth.routes]]
methods = ["DELETE"]
path = "/orders/{{order_id}}"
permission = "orders:delete"
audience = "{ORDERS}"
"""


# -- processes ------------------------------------------------------------------------------


@contextmanager
def process(
    name: str, command: list[str], ready_url: str, log_path: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own session until the block ends; ready when ``ready_url``
    answers 200. Stopped by its PID (then its own process group), also on failure."""
    with log_path.open("wb") as log:
        started = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if started.poll() is not None:
                raise AssertionError(f"{name} exited:\n{log_path.read_text(errors='replace')}")
            with suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield started
    finally:
        started.terminate()
        try:
            started.wait(10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(started.pid, signal.SIGKILL)
            started.wait(5)


def fill(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    assert "{{" not in text, f"unfilled placeholder in {template.name}"
    return text


def orders_api(run_dir: Path, mode: str, issuer: str) -> tuple[list[str], str, dict[str, str]]:
    port = free_port()
    command = [
        sys.executable,
        *("-m", "uvicorn", "--app-dir", str(EXAMPLE), "app:app"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
    ]
    env = {
        **os.environ,
        "ORDERS_MODE": mode,
        "AUTHGATE_ISSUER": issuer,
        "ORDERS_TRUSTED_PROXIES": "127.0.0.1",
    }
    return command, f"127.0.0.1:{port}", env


def start_nginx(stack: ExitStack, run_dir: Path, authgate_at: str, api_at: str) -> str:
    assert NGINX is not None
    port = free_port()
    (run_dir / "nginx").mkdir()
    conf = run_dir / "nginx" / "nginx.conf"
    conf.write_text(
        fill(
            EXAMPLE / "nginx.conf",
            {
                "LISTEN": f"127.0.0.1:{port}",
                "AUTHGATE": authgate_at,
                "ORDERS_API": api_at,
                "RUN_DIR": str(run_dir / "nginx"),
            },
        )
    )
    command = [
        NGINX,
        *("-p", str(run_dir / "nginx"), "-c", str(conf)),
        *("-e", str(run_dir / "nginx" / "error.log"), "-g", "daemon off;"),
    ]
    url = f"http://127.0.0.1:{port}"
    log = run_dir / "nginx.out"
    stack.enter_context(process("nginx", command, url + "/health", log, dict(os.environ)))
    return url


def start_caddy(stack: ExitStack, run_dir: Path, authgate_at: str, api_at: str) -> str:
    assert CADDY is not None
    port = free_port()
    home = run_dir / "caddy"
    home.mkdir()
    config = home / "Caddyfile"
    config.write_text(
        fill(
            EXAMPLE / "Caddyfile",
            {"PORT": str(port), "AUTHGATE": authgate_at, "ORDERS_API": api_at},
        )
    )
    command = [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"]
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    url = f"http://127.0.0.1:{port}"
    stack.enter_context(process("caddy", command, url + "/health", run_dir / "caddy.out", env))
    return url


# -- the world ----------------------------------------------------------------------------------


@dataclass
class Stack:
    server: RunningServer
    front: dict[str, str]  # proxy name (and "sdk") → base URL
    clients: dict[str, tuple[str, str]]  # name → (client_id, secret)
    owner_id: str

    def token(self, name: str, scope: str | None = None) -> str:
        client_id, secret = self.clients[name]
        form = {"grant_type": "client_credentials", "resource": ORDERS}
        if scope is not None:
            form["scope"] = scope
        response = httpx.post(
            self.server.url + "/oauth/token", data=form, auth=(client_id, secret), timeout=10
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def api_key(self, *permissions: str) -> tuple[str, str]:
        args = [arg for p in permissions for arg in ("--permission", p)]
        made = self.server.cli("apikey", "create", "--user", "olga", *args, "--json")
        created = json.loads(made.stdout)
        return str(created["id"]), str(created["key"])


def _client(data_dir: Path, name: str, role: str, scope: str = "/") -> tuple[str, str]:
    created = authgate(
        data_dir,
        *("client", "create", "--name", name, "--grant-type", "client_credentials"),
        *("--audience", ORDERS, "--json"),
    )
    client = json.loads(created.stdout)
    authgate(data_dir, "bind", role, "--client", client["client_id"], "--scope", scope)
    return str(client["client_id"]), str(client["client_secret"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("proxies")
    data_dir = run_dir / "data"
    init_data_dir(data_dir, demo=False)
    with (data_dir / "authgate.toml").open("a") as config:
        config.write(ROUTES_TOML)
    perms = ("orders:read", "orders:write", "orders:delete")
    authgate(
        data_dir,
        *("api", "create", "--audience", ORDERS, "--name", "Orders"),
        *(arg for p in perms for arg in ("--permission", p)),
    )
    authgate(data_dir, "role", "create", "order-reader", "--permission", "orders:read")
    authgate(
        data_dir,
        *("role", "create", "order-writer"),
        *("--permission", "orders:read", "--permission", "orders:write"),
    )
    clients = {
        "reader": _client(data_dir, "reader", "order-reader"),
        "writer": _client(data_dir, "writer", "order-writer"),
        "clerk": _client(data_dir, "clerk", "order-reader", "order:42"),
    }
    owner = json.loads(authgate(data_dir, "user", "create", "olga", "--json").stdout)
    authgate(data_dir, "bind", "order-writer", "--user", "olga")
    with (
        ExitStack() as stack,
        running_server(data_dir, env={"AUTHGATE_RATE_LIMITS": "off"}) as server,
    ):
        authgate_at = server.url.removeprefix("http://")
        front: dict[str, str] = {}
        for mode in ("proxy", "sdk"):
            command, api_at, env = orders_api(run_dir, mode, server.url)
            log = run_dir / f"orders-{mode}.log"
            stack.enter_context(
                process(f"orders API ({mode})", command, f"http://{api_at}/health", log, env)
            )
            if mode == "sdk":
                front["sdk"] = f"http://{api_at}"
                continue
            if NGINX is not None:
                front["nginx"] = start_nginx(stack, run_dir, authgate_at, api_at)
            if CADDY is not None:
                front["caddy"] = start_caddy(stack, run_dir, authgate_at, api_at)
        yield Stack(server, front, clients, str(owner["id"]))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_status(url: str, headers: dict[str, str], status: int) -> httpx.Response:
    """Changes made by another process reach the server within its 1 s poll."""
    deadline = time.monotonic() + 8
    while True:
        response = httpx.get(url, headers=headers, timeout=5)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


# -- through each proxy -----------------------------------------------------------------------


@pytest.mark.parametrize("proxy", PROXIES)
def test_no_credential_is_401_with_the_challenge(stack: Stack, proxy: str) -> None:
    """RFC 6750 §3.1: no error code when no credential was sent."""
    response = httpx.get(stack.front[proxy] + "/orders")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_token_with_the_permission_reaches_the_api_with_its_identity(
    stack: Stack, proxy: str
) -> None:
    response = httpx.get(stack.front[proxy] + "/orders", headers=bearer(stack.token("reader")))
    assert response.status_code == 200, response.text
    caller = response.json()["caller"]
    assert caller["subject"] == stack.clients["reader"][0]
    assert caller["subject_type"] == "client"
    assert caller["client"] == stack.clients["reader"][0]
    assert "orders:read" in caller["scope"]
    assert caller["key_id"] is None


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_token_without_the_permission_is_403_insufficient_scope(stack: Stack, proxy: str) -> None:
    response = httpx.post(stack.front[proxy] + "/orders", headers=bearer(stack.token("reader")))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'{REALM}, error="insufficient_scope"')
    created = httpx.post(stack.front[proxy] + "/orders", headers=bearer(stack.token("writer")))
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_scoped_binding_opens_one_order_only(stack: Stack, proxy: str) -> None:
    token = bearer(stack.token("clerk"))
    assert httpx.get(stack.front[proxy] + "/orders/42", headers=token).status_code == 200
    assert httpx.get(stack.front[proxy] + "/orders/43", headers=token).status_code == 403
    assert httpx.get(stack.front[proxy] + "/orders", headers=token).status_code == 403


@pytest.mark.parametrize("proxy", PROXIES)
def test_invalid_and_revoked_tokens_are_401_invalid_token(stack: Stack, proxy: str) -> None:
    url = stack.front[proxy] + "/orders"
    garbage = httpx.get(url, headers=bearer("not-a-token"))
    assert garbage.status_code == 401
    assert garbage.headers["www-authenticate"] == f'{REALM}, error="invalid_token"'
    token = stack.token("reader")
    assert httpx.get(url, headers=bearer(token)).status_code == 200
    client_id, secret = stack.clients["reader"]
    revoked = httpx.post(
        stack.server.url + "/oauth/revoke", data={"token": token}, auth=(client_id, secret)
    )
    assert revoked.status_code == 200  # RFC 7009 §2.2
    after = httpx.get(url, headers=bearer(token))
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["www-authenticate"]


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize("as_header", [True, False], ids=["x-api-key", "bearer"])
def test_api_keys_work_are_limited_and_can_be_revoked(
    stack: Stack, proxy: str, as_header: bool
) -> None:
    key_id, key = stack.api_key("orders:read")
    headers = {"X-API-Key": key} if as_header else bearer(key)
    url = stack.front[proxy] + "/orders"
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200, response.text
    caller = response.json()["caller"]
    assert caller["subject"] == stack.owner_id
    assert caller["subject_type"] == "apikey"
    assert caller["key_id"] == key_id
    # The owner may write; the key's own list does not say so.
    assert httpx.post(url, headers=headers).status_code == 403
    stack.server.cli("apikey", "revoke", key_id)
    assert wait_for_status(url, headers, 401).status_code == 401


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_client_cannot_bring_its_own_identity_headers(stack: Stack, proxy: str) -> None:
    forged = {"X-Authgate-Subject": "admin", "X-Authgate-Key-Id": "forged"}
    public = httpx.get(stack.front[proxy] + "/health", headers=forged)
    assert public.status_code == 200
    assert public.json()["identity_headers"] == {}
    token = stack.token("reader")
    response = httpx.get(stack.front[proxy] + "/orders", headers={**forged, **bearer(token)})
    caller = response.json()["caller"]
    assert caller["subject"] == stack.clients["reader"][0] and caller["key_id"] is None


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(
    "smuggled",
    [
        {"X-Forwarded-Uri": "/health", "X-Forwarded-Method": "GET"},
        {"X-Original-URI": "/health", "X-Original-Method": "GET"},
    ],
    ids=["x-forwarded", "x-original"],
)
def test_a_client_cannot_describe_another_request(
    stack: Stack, proxy: str, smuggled: dict[str, str]
) -> None:
    """Headers naming a public path, sent by the client along a protected request."""
    response = httpx.get(stack.front[proxy] + "/orders", headers=smuggled)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize("path", ["/health/%2e%2e/orders", "/orders/42%2F..%2F43", "/orders;x"])
def test_ambiguous_paths_are_refused(stack: Stack, proxy: str, path: str) -> None:
    token = bearer(stack.token("clerk"))
    response = httpx.get(httpx.URL(stack.front[proxy] + path), headers=token)
    assert response.status_code == 403, response.text
    assert "filters" not in response.text  # order 43's content


# -- the same API protected by the SDK ------------------------------------------------------


def test_the_sdk_protected_api_answers_alike(stack: Stack) -> None:
    url = stack.front["sdk"] + "/orders"
    none = httpx.get(url)
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    response = httpx.get(url, headers=bearer(stack.token("reader")))
    assert response.status_code == 200, response.text
    assert response.json()["caller"]["subject"] == stack.clients["reader"][0]
    refused = httpx.post(url, headers=bearer(stack.token("reader")))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert httpx.get(url, headers=bearer("not-a-token")).status_code == 401


def _example_app() -> Any:
    spec = importlib.util.spec_from_file_location("orders_api_example", EXAMPLE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.create_app("proxy", trusted="127.0.0.1")


async def test_behind_the_proxy_the_api_believes_only_the_proxy() -> None:
    """Identity headers from any address but the proxy's are refused."""
    transport = httpx.ASGITransport(app=_example_app(), client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as http:
        forged = {"X-Authgate-Subject": "admin", "X-Authgate-Subject-Type": "user"}
        assert (await http.get("/orders", headers=forged)).status_code == 403
