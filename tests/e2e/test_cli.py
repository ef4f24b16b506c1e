"""The CLI contract (spec §2): --json prints one object, errors are one line and non-zero."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.server import authgate, authgate_process, free_port, init_data_dir

pytestmark = pytest.mark.slow


@pytest.fixture
def ready(data_dir: Path, backend_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    init_data_dir(data_dir, backend_env, demo=False)
    return data_dir, backend_env


def test_user_lifecycle(ready: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = ready
    created = authgate(
        data_dir,
        "user",
        "create",
        "Alice",
        "--id",
        "emp-1",
        "--email",
        "alice@example.com",
        "--attr",
        "department=sales",
        "--password-stdin",
        "--json",
        stdin="violet-kettle-orbit\n",
        env=env,
    )
    user = json.loads(created.stdout)
    assert user["id"] == "emp-1"
    assert user["attributes"] == {"department": "sales"}
    assert created.stdout.count("\n") == 1
    updated = json.loads(
        authgate(
            data_dir,
            "user",
            "update",
            "alice",
            "--attr",
            "team=blue",
            "--unset-attr",
            "department",
            "--json",
            env=env,
        ).stdout
    )
    assert updated["attributes"] == {"team": "blue"}
    authgate(data_dir, "user", "disable", "alice", env=env)
    assert (
        json.loads(authgate(data_dir, "user", "list", "--json", env=env).stdout)["users"][1][
            "disabled"
        ]
        is True
    )
    authgate(data_dir, "user", "enable", "alice", env=env)
    authgate(data_dir, "user", "delete", "alice", env=env)
    missing = authgate(data_dir, "user", "delete", "alice", env=env, check=False)
    assert missing.returncode != 0
    assert missing.stderr.strip() == "error: no user named 'alice'"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "create", ""], None, "the username is empty"),
        (["user", "create", "x" * 200], None, "longer than 150"),
        (["user", "create", "bob", "--password-stdin"], "short\n", "too short"),
        (["user", "create", "bob", "--password-stdin"], "", "no password on standard input"),
        (["user", "create", "bob", "--attr", "novalue"], None, "KEY=VALUE"),
        (["user", "create", "bob", "--email", "nope"], None, "not an e-mail"),
        (["user", "create", "admin"], None, "already exists"),
        (["user", "update", "ghost", "--email", "g@example.com"], None, "no user named"),
        (["user", "mfa", "enroll", "ghost", "--json"], None, "no user named"),
    ],
    ids=[
        "empty",
        "overlong",
        "weak-password",
        "no-password",
        "attr",
        "email",
        "duplicate",
        "update-missing",
        "mfa-missing",
    ],
)
def test_bad_input_fails_cleanly_and_changes_nothing(
    ready: tuple[Path, dict[str, str]], args: list[str], stdin: str | None, message: str
) -> None:
    data_dir, env = ready
    before = authgate(data_dir, "user", "list", "--json", env=env).stdout
    result = authgate(data_dir, *args, stdin=stdin, env=env, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert authgate(data_dir, "user", "list", "--json", env=env).stdout == before


def test_mfa_enroll_prints_secret_uri_and_codes(ready: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = ready
    out = json.loads(authgate(data_dir, "user", "mfa", "enroll", "admin", "--json", env=env).stdout)
    assert set(out) == {"secret", "otpauth_uri", "recovery_codes"}
    assert out["otpauth_uri"].startswith("otpauth://totp/")
    assert len(out["recovery_codes"]) == 10


def test_audit_verify_catches_a_tampered_row(data_dir: Path) -> None:
    init_data_dir(data_dir, demo=True)
    ok = authgate(data_dir, "audit", "verify")
    assert "intact" in ok.stdout
    with sqlite3.connect(data_dir / "authgate.db") as db:
        db.execute("UPDATE audit_events SET actor = 'nobody' WHERE id = 2")
    bad = authgate(data_dir, "audit", "verify", check=False)
    assert bad.returncode == 1
    assert "event #2" in bad.stderr and "modified" in bad.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTHGATE_ISSUER": "ftp://auth"}, "issuer"),
        ({"AUTHGATE_ACCESS_TOKEN_TTL": "soon"}, "access_token_ttl"),
        (
            {"AUTHGATE_DATABASE_URL": "postgresql://127.0.0.1:PORT/none"},
            "cannot reach the database",
        ),
    ],
    ids=["issuer", "ttl", "unreachable-database"],
)
def test_configuration_errors_are_reported_at_start(
    data_dir: Path, env: dict[str, str], message: str
) -> None:
    init_data_dir(data_dir, demo=False)
    env = {k: v.replace("PORT", str(free_port())) for k, v in env.items()}
    result = authgate_process(data_dir, "serve", "--port", str(free_port()), env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_master_key_is_caught_before_anything_is_written(data_dir: Path) -> None:
    init_data_dir(data_dir, demo=False)
    other = {"AUTHGATE_MASTER_KEY": "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI"}
    before = authgate(data_dir, "audit", "verify").stdout
    result = authgate(data_dir, "user", "create", "zed", env=other, check=False)
    assert result.returncode != 0
    assert "master key differs" in result.stderr
    assert authgate(data_dir, "audit", "verify").stdout == before


def test_init_refuses_a_weak_admin_password_before_creating_anything(data_dir: Path) -> None:
    result = authgate(data_dir, "init", "--admin-password-stdin", stdin="short\n", check=False)
    assert result.returncode != 0
    assert "too short" in result.stderr
    assert not (data_dir / "authgate.db").exists()


def test_init_and_rotate_speak_json(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "authgate.toml").write_text(
        "[passwords]\nargon2_memory_kib = 1024\nargon2_time_cost = 1\n"
    )
    report = json.loads(authgate(data_dir, "init", "--json").stdout)
    assert report["admin"]["created"] is True
    assert len(report["admin"]["password"]) >= 24
    assert len(report["signing_keys_created"]) == 3
    rotated = json.loads(authgate(data_dir, "keys", "rotate", "--json").stdout)
    assert {k["alg"] for k in rotated["keys"]} == {"ES256", "RS256", "EdDSA"}


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["init", "--admin-username", "bad name"], None),
        (["init", "--admin-password-stdin"], "short\n"),
    ],
    ids=["bad-username", "weak-password"],
)
def test_init_writes_nothing_on_bad_input(
    data_dir: Path, args: list[str], stdin: str | None
) -> None:
    result = authgate(data_dir, *args, stdin=stdin, check=False)
    assert result.returncode != 0
    assert not data_dir.exists() or not any(data_dir.iterdir())


def test_invalid_unicode_from_the_command_line_is_refused(
    ready: tuple[Path, dict[str, str]],
) -> None:
    data_dir, env = ready
    for args in (["--attr", "k=v\udcfe"], ["--email", "e\udcffe@example.com"]):
        result = authgate(data_dir, "user", "create", "mallory", *args, env=env, check=False)
        assert result.returncode != 0
        assert "not valid Unicode" in result.stderr
