"""``authgate client``, ``api``, ``role``, ``bind`` and ``unbind`` (spec §2): --json prints one
object, errors are one line on stderr with a non-zero exit, and nothing is half-created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from tests.support.server import authgate, init_data_dir

pytestmark = pytest.mark.slow

CB = "https://app.example.com/callback"


@pytest.fixture
def ready(data_dir: Path, backend_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    init_data_dir(data_dir, backend_env, demo=False)
    return data_dir, backend_env


def _json(data_dir: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = authgate(data_dir, *args, env=env)
    assert result.stdout.count("\n") == 1, result.stdout
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_client_lifecycle(ready: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    data_dir, env = ready
    service = _json(data_dir, env, "client", "create", "--name", "Billing", "--json")
    assert service["client_secret"].startswith("agcs_")
    assert service["grant_types"] == ["client_credentials"]
    assert service["auth_method"] == "client_secret_basic"
    web = _json(
        data_dir,
        env,
        "client", "create", "--name", "Web", "--redirect-uri", CB,
        "--redirect-uri", "http://127.0.0.1:8080/cb", "--scope", "openid orders:read",
        "--audience", "https://orders.example.com", "--first-party",
        "--access-token-ttl", "10m", "--refresh-token-ttl", "7d",
        "--post-logout-redirect-uri", "https://app.example.com/", "--json",
    )  # fmt: skip
    assert web["grant_types"] == ["authorization_code", "refresh_token"]
    assert web["scopes"] == ["openid", "orders:read"]
    assert web["access_token_ttl"] == 600
    assert web["first_party"] is True
    spa = _json(
        data_dir, env, "client", "create", "--name", "SPA", "--public", "--redirect-uri", CB,
        "--json",
    )  # fmt: skip
    assert "client_secret" not in spa
    assert spa["auth_method"] == "none"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    signer = _json(
        data_dir, env, "client", "create", "--name", "Signer",
        "--auth-method", "private_key_jwt", "--jwks", str(jwks), "--json",
    )  # fmt: skip
    assert "client_secret" not in signer

    updated = _json(
        data_dir, env, "client", "update", web["client_id"], "--name", "Web app", "--json"
    )
    assert updated["name"] == "Web app"
    assert updated["redirect_uris"] == web["redirect_uris"]
    assert updated["scopes"] == web["scopes"]

    rotated = _json(
        data_dir, env, "client", "rotate-secret", service["client_id"], "--overlap", "1h", "--json"
    )
    assert set(rotated) == {"client_id", "client_secret"}
    assert rotated["client_id"] == service["client_id"]
    assert rotated["client_secret"] != service["client_secret"]

    authgate(data_dir, "client", "disable", spa["client_id"], env=env)
    listed = _json(data_dir, env, "client", "list", "--json")["clients"]
    assert [c["name"] for c in listed] == ["Billing", "SPA", "Signer", "Web app"]
    assert [c["disabled"] for c in listed] == [False, True, False, False]
    dumped = json.dumps(listed)
    assert service["client_secret"] not in dumped
    assert rotated["client_secret"] not in dumped
    assert all("client_secret" not in c for c in listed)
    authgate(data_dir, "client", "enable", spa["client_id"], env=env)
    authgate(data_dir, "client", "delete", spa["client_id"], env=env)
    missing = authgate(data_dir, "client", "delete", spa["client_id"], env=env, check=False)
    assert missing.returncode != 0
    assert missing.stderr.strip() == f"error: no client with id {spa['client_id']!r}"


def test_api_role_bind_unbind(ready: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = ready
    api = _json(
        data_dir, env, "api", "create", "--audience", "https://orders.example.com",
        "--name", "Orders", "--permission", "orders:read", "--permission", "orders:write",
        "--token-format", "opaque", "--json",
    )  # fmt: skip
    assert api == {
        "audience": "https://orders.example.com",
        "name": "Orders",
        "permissions": ["orders:read", "orders:write"],
        "token_format": "opaque",
    }
    role = _json(data_dir, env, "role", "create", "reader", "--permission", "orders:read", "--json")
    assert role == {"name": "reader", "permissions": ["orders:read"], "inherits": []}
    user = _json(data_dir, env, "user", "create", "alice", "--json")
    client = _json(data_dir, env, "client", "create", "--name", "svc", "--json")
    to_user = _json(data_dir, env, "bind", "reader", "--user", "alice", "--json")
    assert to_user["id"].startswith("bnd_")
    assert to_user["member"] == f"user:{user['id']}"
    assert to_user["scope"] == "/"
    to_client = _json(
        data_dir, env, "bind", "reader", "--client", client["client_id"],
        "--scope", "org:acme/project:42", "--json",
    )  # fmt: skip
    assert to_client["scope"] == "org:acme/project:42"
    text = authgate(data_dir, "bind", "reader", "--user", "admin", env=env).stdout
    assert "bound user:" in text and "bnd_" in text
    authgate(data_dir, "unbind", to_user["id"], env=env)
    again = authgate(data_dir, "unbind", to_user["id"], env=env, check=False)
    assert again.returncode != 0
    assert again.stderr.strip() == f"error: no binding with id {to_user['id']!r}"


ERRORS: list[tuple[list[str], str]] = [
    (["client", "create", "--name", "x", "--redirect-uri", "http://app.example.com/cb"],
     "http on a host that is not loopback"),
    (["client", "create", "--name", "x", "--redirect-uri", CB + "#frag"], "fragment"),
    (["client", "create", "--name", "x", "--public"], "needs a redirect URI"),
    (["client", "create", "--name", "x", "--public", "--grant-type", "client_credentials"],
     "cannot use client_credentials"),
    (["client", "create", "--name", "x", "--grant-type", "password"], "unknown grant type"),
    (["client", "create", "--name", "x", "--auth-method", "private_key_jwt"],
     "needs the client's public keys"),
    (["client", "create", "--name", "x", "--auth-method", "private_key_jwt",
      "--jwks", "/nonexistent/jwks.json"], "cannot read /nonexistent/jwks.json"),
    (["client", "create", "--name", "x", "--access-token-ttl", "soon"], "not a duration"),
    (["client", "create", "--name", "x", "--audience", "orders"], "not an absolute URI"),
    (["client", "update", "ghost", "--name", "y"], "no client with id 'ghost'"),
    (["client", "rotate-secret", "ghost", "--json"], "no client with id 'ghost'"),
    (["client", "rotate-secret", "ghost", "--overlap", "soon"], "--overlap"),
    (["api", "create", "--audience", "orders", "--name", "O"], "not an absolute URI"),
    (["api", "create", "--audience", "https://o.example", "--name", "O", "--permission", "read"],
     "resource:action"),
    (["role", "create", "r", "--permission", "read"], "resource:action"),
    (["role", "create", "r", "--inherits", "base"], "no role named 'base' to inherit"),
    (["bind", "viewer", "--user", "admin"], "no role named 'viewer'"),
    (["bind", "viewer", "--user", "admin", "--client", "c"], "exactly one of"),
    (["bind", "viewer"], "exactly one of"),
    (["bind", "viewer", "--group", "staff"], "no role named 'viewer'"),
    (["bind", "viewer", "--user", "admin", "--condition", "owner =="], "does not compile"),
]  # fmt: skip


def test_bad_input_fails_cleanly_and_creates_nothing(ready: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = ready
    before = authgate(data_dir, "audit", "verify", env=env).stdout
    for args, message in ERRORS:
        result = authgate(data_dir, *args, env=env, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stdout == "", args
    assert _json(data_dir, env, "client", "list", "--json") == {"clients": []}
    assert authgate(data_dir, "audit", "verify", env=env).stdout == before
