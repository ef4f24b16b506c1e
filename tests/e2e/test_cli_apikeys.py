"""``authgate apikey create|revoke|list|show`` (spec §2, §5): ``--json`` prints at least
``{"id", "key"}``, the key is printed once and never listed, a key for permissions the
owner lacks is refused with one line and nothing written, and revocation is final."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import authgate, init_data_dir

pytestmark = pytest.mark.slow

Ready = tuple[Path, dict[str, str]]


@pytest.fixture
def ready(data_dir: Path, backend_env: dict[str, str]) -> Ready:
    init_data_dir(data_dir, backend_env, demo=False)
    for args in (
        ("user", "create", "alice"),
        ("role", "create", "clerk", "--permission", "orders:read"),
        ("bind", "clerk", "--user", "alice"),
    ):
        authgate(data_dir, *args, env=backend_env)
    return data_dir, backend_env


def _json(ready: Ready, *args: str) -> dict[str, Any]:
    data_dir, env = ready
    result = authgate(data_dir, *args, env=env)
    assert result.stdout.count("\n") == 1, result.stdout
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _fails(ready: Ready, *args: str) -> str:
    data_dir, env = ready
    result = authgate(data_dir, *args, env=env, check=False)
    assert result.returncode != 0, args
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_create_list_show_and_revoke(ready: Ready) -> None:
    made = _json(
        ready, "apikey", "create", "--user", "alice", "--permission", "orders:read",
        "--expires-in", "30d", "--name", "reports", "--allow-network", "10.0.0.0/8", "--json",
    )  # fmt: skip
    assert made["key"].startswith("agk_") and made["key"][4:16] == made["id"]
    assert made["permissions"] == ["orders:read"] and made["allowed_networks"] == ["10.0.0.0/8"]
    assert made["expires_at"] is not None and made["revoked_at"] is None
    listed = _json(ready, "apikey", "list", "--user", "alice", "--json")["api_keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert made["key"] not in json.dumps(listed)
    shown = _json(ready, "apikey", "show", made["id"], "--json")
    assert shown["name"] == "reports" and "key" not in shown
    data_dir, env = ready
    out = authgate(data_dir, "apikey", "revoke", made["id"], env=env).stdout
    assert f"revoked API key {made['id']}" in out
    assert _json(ready, "apikey", "show", made["id"], "--json")["revoked_at"] is not None


def test_refusals_are_one_line_and_write_nothing(ready: Ready) -> None:
    assert "does not hold billing:read" in _fails(
        ready, "apikey", "create", "--user", "alice", "--permission", "billing:read"
    )
    assert "--user" in _fails(ready, "apikey", "create")
    assert "no user" in _fails(ready, "apikey", "create", "--user", "nobody")
    assert "--expires-in" in _fails(
        ready, "apikey", "create", "--user", "alice", "--expires-in", "soon"
    )
    assert "no API key" in _fails(ready, "apikey", "revoke", "AAAAAAAAAAAA")
    assert _json(ready, "apikey", "list", "--json") == {"api_keys": []}
