"""Interop: npm's ``openid-client`` (run with ``node`` from the committed package.json and
package-lock.json in ``node/``) against a running ``authgate serve``. Python drives the
login and consent forms; the library does everything else, and its tokens are checked
with PyJWT against the JWKS."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import (
    API_AUDIENCE,
    REDIRECT_URI,
    USER_SCOPE,
    USERNAME,
    InteropServer,
    sign_in_and_consent,
    verify_access_token,
    verify_id_token,
)

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "interop.mjs"
NODE = shutil.which("node")
NPM = shutil.which("npm")
TIMEOUT = 30

if NODE is None or NPM is None:
    pytest.skip(
        "openid-client interop needs node and npm on PATH (Node.js 20 or later)",
        allow_module_level=True,
    )


def _locked_version() -> str:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/openid-client"]["version"])


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "openid-client" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``npm ci`` once, when node_modules is missing or differs from the lock file."""
    if _installed_version() != _locked_version():
        assert NPM is not None
        try:
            done = subprocess.run(
                [NPM, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm ci in tests/interop/node took over 300 s (is the registry reachable?)")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-1500:]
            pytest.skip(f"npm ci in tests/interop/node failed ({done.returncode}):\n{tail}")
    return NODE_DIR / "node_modules"


def _fail(mode: str, returncode: int | None, stderr: str) -> AssertionError:
    return AssertionError(f"node interop.mjs {mode} exited {returncode}:\n{stderr}")


def run_node(mode: str, args: dict[str, Any]) -> dict[str, Any]:
    assert NODE is not None
    try:
        done = subprocess.run(
            [NODE, str(SCRIPT), mode, json.dumps(args)],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"node interop.mjs {mode} timed out: {exc.stderr!r}") from None
    if done.returncode != 0:
        raise _fail(mode, done.returncode, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class NodeSession:
    """``interop.mjs code``: a line protocol over the script's stdin and stdout."""

    def __init__(self, args: dict[str, Any]) -> None:
        assert NODE is not None
        self.process = subprocess.Popen(
            [NODE, str(SCRIPT), "code", json.dumps(args)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._watchdog = threading.Timer(TIMEOUT, self.process.kill)
        self._watchdog.start()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            assert self.process.stderr is not None
            raise _fail("code", self.process.returncode, self.process.stderr.read())
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        self._watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _client_args(server: InteropServer, name: str, auth: str) -> dict[str, Any]:
    registered = server.clients[name]
    return {
        "issuer": server.issuer,
        "clientId": registered.client_id,
        "clientSecret": registered.client_secret,
        "auth": auth,
    }


def test_discovery(node_modules: Path, interop_server: InteropServer) -> None:
    found = run_node(
        "discover", _client_args(interop_server, "service-node", "client_secret_basic")
    )
    server = found["server"]
    assert server["issuer"] == interop_server.issuer
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert server[endpoint] == interop_server.metadata[endpoint]
    assert found["supports_pkce"] is True
    assert found["client"]["client_id"] == interop_server.clients["service-node"].client_id


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(node_modules: Path, interop_server: InteropServer, auth: str) -> None:
    args = _client_args(interop_server, "service-node", auth)
    args.update(scope="orders:read orders:write", resource=API_AUDIENCE)
    tokens = run_node("client-credentials", args)["tokens"]
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["scope"] == "orders:read"  # what the client holds of what it asked
    assert "refresh_token" not in tokens
    claims = verify_access_token(interop_server, tokens["access_token"], client_id=args["clientId"])
    assert claims["sub"] == args["clientId"]


@pytest.mark.parametrize(
    ("name", "auth"), [("web-node", "client_secret_basic"), ("spa-node", "none")]
)
def test_authorization_code_pkce(
    node_modules: Path, interop_server: InteropServer, name: str, auth: str
) -> None:
    args = _client_args(interop_server, name, auth)
    args.update(redirectUri=REDIRECT_URI, scope=USER_SCOPE, introspect=auth != "none")
    session = NodeSession(args)
    try:
        start = session.read()
        callback = sign_in_and_consent(start["authorization_url"])
        assert callback.pages == ["login", "consent"]
        assert callback.params["iss"] == interop_server.issuer
        session.send(callback.url)
        result = session.read()
    finally:
        session.close()

    tokens = result["tokens"]
    client_id = args["clientId"]
    assert set(tokens["scope"].split()) == set(USER_SCOPE.split())
    access = verify_access_token(interop_server, tokens["access_token"], client_id=client_id)
    id_claims = verify_id_token(
        interop_server,
        tokens["id_token"],
        client_id=client_id,
        nonce=start["nonce"],
        access_token=tokens["access_token"],
    )
    assert result["id_token_claims"]["sub"] == id_claims["sub"] == access["sub"]
    assert result["userinfo"]["sub"] == access["sub"]
    assert result["userinfo"]["preferred_username"] == USERNAME

    refreshed = result["refreshed"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    again = verify_access_token(interop_server, refreshed["access_token"], client_id=client_id)
    assert again["sub"] == access["sub"]
    if result.get("refreshed_id_token_claims"):
        assert result["refreshed_id_token_claims"]["sub"] == access["sub"]
        verify_id_token(interop_server, refreshed["id_token"], client_id=client_id, nonce=None)

    if args["introspect"]:
        assert result["introspection_before"]["active"] is True
        assert result["introspection_before"]["client_id"] == client_id
        # Revoking the refresh token (done by the script) ended the grant's access token.
        assert result["introspection_after"] == {"active": False}
