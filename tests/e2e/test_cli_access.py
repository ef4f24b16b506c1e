"""``authgate role``, ``group``, ``bind`` and ``check`` (spec §1 access model, §2 CLI):
--json prints one object, a decision exits 0 whether it allows or denies, errors are one
line on stderr with a non-zero exit, and a refused command writes nothing."""

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
    return data_dir, backend_env


def _json(ready: Ready, *args: str) -> dict[str, Any]:
    data_dir, env = ready
    result = authgate(data_dir, *args, env=env)
    assert result.stdout.count("\n") == 1, result.stdout
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _text(ready: Ready, *args: str) -> str:
    data_dir, env = ready
    return authgate(data_dir, *args, env=env).stdout


def _fails(ready: Ready, *args: str) -> str:
    """Run a command that must be refused; return its one-line reason."""
    data_dir, env = ready
    result = authgate(data_dir, *args, env=env, check=False)
    assert result.returncode != 0, args
    assert result.stdout == "", (args, result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    return lines[0]


def _audit(ready: Ready) -> str:
    return _text(ready, "audit", "verify")


def test_role_lifecycle_with_inheritance(ready: Ready) -> None:
    base = _json(ready, "role", "create", "viewer", "--permission", "docs:read", "--json")
    assert base == {"name": "viewer", "permissions": ["docs:read"], "inherits": []}
    editor = _json(
        ready, "role", "create", "editor", "--permission", "docs:write",
        "--inherits", "viewer", "--json",
    )  # fmt: skip
    assert editor == {"name": "editor", "permissions": ["docs:write"], "inherits": ["viewer"]}

    shown = _json(ready, "role", "show", "editor", "--json")
    assert shown["effective_permissions"] == ["docs:read", "docs:write"]
    assert shown["inherits"] == ["viewer"]
    assert "effective permissions: docs:read docs:write" in _text(ready, "role", "show", "editor")

    # Only what is given changes: new permissions keep the inheritance.
    updated = _json(ready, "role", "update", "editor", "--permission", "docs:edit", "--json")
    assert updated == {"name": "editor", "permissions": ["docs:edit"], "inherits": ["viewer"]}
    assert "editor\tdocs:edit\tinherits viewer" in _text(ready, "role", "list")

    # A cycle is refused, named, and leaves the roles as they were.
    before = _audit(ready)
    reason = _fails(ready, "role", "update", "viewer", "--inherits", "editor")
    assert reason.startswith("error: role inheritance would form a cycle: ")
    assert reason.endswith(("viewer → editor → viewer", "editor → viewer → editor"))
    assert _json(ready, "role", "show", "viewer", "--json")["inherits"] == []
    assert _audit(ready) == before

    cleared = _json(ready, "role", "update", "editor", "--no-inherits", "--json")
    assert cleared["inherits"] == [] and cleared["permissions"] == ["docs:edit"]
    emptied = _json(ready, "role", "update", "viewer", "--no-permissions", "--json")
    assert emptied["permissions"] == []

    listed = _json(ready, "role", "list", "--json")["roles"]
    assert [r["name"] for r in listed] == ["authgate-admin", "editor", "viewer"]
    assert _text(ready, "role", "delete", "viewer") == "deleted role viewer\n"
    assert _fails(ready, "role", "show", "viewer") == "error: no role named 'viewer'"
    assert _fails(ready, "role", "delete", "viewer") == "error: no role named 'viewer'"


def test_group_lifecycle(ready: Ready) -> None:
    alice = _json(ready, "user", "create", "alice", "--id", "emp-1", "--json")
    _json(ready, "user", "create", "bob", "--json")
    staff = _json(
        ready, "group", "create", "staff", "--member", "alice", "--description", "Everyone",
        "--json",
    )  # fmt: skip
    assert staff == {"name": "staff", "description": "Everyone", "members": [alice["id"]]}
    assert "members: alice (emp-1)" in _text(ready, "group", "show", "staff")

    assert _text(ready, "group", "add-member", "staff", "bob") == "added bob to staff\n"
    assert "already in staff" in _text(ready, "group", "add-member", "staff", "bob")
    shown = _json(ready, "group", "show", "staff", "--json")
    assert len(shown["members"]) == 2
    _text(ready, "group", "remove-member", "staff", "emp-1")  # by id works too
    assert _json(ready, "group", "show", "staff", "--json")["members"] != [alice["id"]]
    assert "is not in staff" in _text(ready, "group", "remove-member", "staff", "alice")

    _json(ready, "group", "create", "admins", "--json")
    listed = _json(ready, "group", "list", "--json")["groups"]
    assert [(g["name"], len(g["members"])) for g in listed] == [("admins", 0), ("staff", 1)]
    assert _text(ready, "group", "delete", "admins") == "deleted group admins\n"
    assert _fails(ready, "group", "show", "admins") == "error: no group named 'admins'"
    assert _fails(ready, "group", "add-member", "staff", "carol").startswith(
        "error: no user named 'carol'"
    )
    # A group with an unknown member is not created at all.
    assert "no user named 'carol'" in _fails(
        ready, "group", "create", "ops", "--member", "bob", "--member", "carol"
    )
    assert _fails(ready, "group", "show", "ops") == "error: no group named 'ops'"


def test_check_explains_the_deciding_binding(ready: Ready) -> None:
    alice = _json(ready, "user", "create", "alice", "--json")
    _json(ready, "role", "create", "reader", "--permission", "docs:read", "--json")
    bound = _json(ready, "bind", "reader", "--user", "alice", "--scope", "org:acme", "--json")

    allowed = _json(
        ready, "check", "user:alice", "docs:read", "--resource", "org:acme/doc:1", "--json"
    )
    assert set(allowed) == {"decision", "reason", "binding"}
    assert allowed["decision"] is True
    assert bound["id"] in allowed["reason"]
    assert allowed["binding"]["id"] == bound["id"]
    assert allowed["binding"]["member"] == f"user:{alice['id']}"
    text = _text(ready, "check", f"user:{alice['id']}", "docs:read", "--resource", "org:acme")
    assert text.startswith("allowed by binding " + bound["id"])

    # Denials are the answer, not an error: exit 0, no binding.
    for resource in ("/", "org:acme2", "org:other/doc:1"):
        denied = _json(ready, "check", "user:alice", "docs:read", "--resource", resource, "--json")
        assert denied["decision"] is False and "binding" not in denied, resource
        assert denied["reason"].startswith("denied")
    assert (
        _json(ready, "check", "user:alice", "docs:write", "--resource", "org:acme", "--json")[
            "decision"
        ]
        is False
    )

    client = _json(ready, "client", "create", "--name", "svc", "--json")["client_id"]
    assert _json(ready, "check", f"client:{client}", "docs:read", "--json")["decision"] is False
    _json(ready, "bind", "reader", "--client", client, "--json")
    assert _json(ready, "check", f"client:{client}", "docs:read", "--json")["decision"] is True


def test_group_bindings_and_role_deletion_take_effect(ready: Ready) -> None:
    _json(ready, "user", "create", "alice", "--json")
    _json(ready, "role", "create", "base", "--permission", "docs:read", "--json")
    _json(ready, "role", "create", "editor", "--permission", "docs:write", "--inherits", "base",
          "--json")  # fmt: skip
    _json(ready, "group", "create", "staff", "--json")
    bound = _json(ready, "bind", "editor", "--group", "staff", "--json")
    assert bound["member"] == "group:staff"

    def decision(permission: str) -> dict[str, Any]:
        return _json(ready, "check", "user:alice", permission, "--json")

    assert decision("docs:read")["decision"] is False  # not a member yet
    _text(ready, "group", "add-member", "staff", "alice")
    inherited = decision("docs:read")
    assert inherited["decision"] is True
    assert inherited["binding"]["member"] == "group:staff"
    assert "group:staff has role 'editor'" in inherited["reason"]

    _text(ready, "role", "delete", "base")  # editor no longer inherits docs:read
    assert decision("docs:read")["decision"] is False
    assert decision("docs:write")["decision"] is True
    _text(ready, "role", "delete", "editor")  # its bindings go with it
    assert decision("docs:write")["decision"] is False


def test_conditions(ready: Ready) -> None:
    alice = _json(ready, "user", "create", "alice", "--id", "emp-1", "--attr", "dept=sales",
                  "--json")  # fmt: skip
    _json(ready, "role", "create", "owner", "--permission", "docs:edit", "--json")

    # A condition that does not compile is refused with the compiler's message.
    before = _audit(ready)
    reason = _fails(
        ready, "bind", "owner", "--user", "alice", "--condition", "resource.properties.owner =="
    )
    assert "does not compile" in reason and "Syntax error" in reason
    assert "undeclared reference to 'user.id'" in _fails(
        ready, "bind", "owner", "--user", "alice", "--condition", "user.id == 'x'"
    )
    assert _audit(ready) == before

    condition = "resource.properties.owner == subject.id && context.mfa == true"
    bound = _json(ready, "bind", "owner", "--user", "alice", "--condition", condition, "--json")
    assert bound["condition"] == condition
    args = ["check", "user:alice", "docs:edit", "--resource", "doc:7", "--json"]
    owned = _json(
        ready, *args, "--resource-properties", json.dumps({"owner": alice["id"]}),
        "--context", '{"mfa": true}',
    )  # fmt: skip
    assert owned["decision"] is True and owned["binding"]["id"] == bound["id"]
    other = _json(ready, *args, "--resource-properties", '{"owner": "emp-2"}', "--context",
                  '{"mfa": true}')  # fmt: skip
    assert other["decision"] is False
    missing = _json(ready, *args)  # the condition cannot evaluate: denied, and why
    assert missing["decision"] is False and "failed to evaluate" in missing["reason"]

    by_attribute = "subject.properties.dept == 'sales'"
    _json(ready, "role", "create", "seller", "--permission", "deals:read", "--json")
    _json(ready, "bind", "seller", "--user", "emp-1", "--condition", by_attribute, "--json")
    assert _json(ready, "check", "user:alice", "deals:read", "--json")["decision"] is True


ERRORS: list[tuple[list[str], str]] = [
    (["role", "create", "r", "--permission", "read"], "resource:action"),
    (["role", "create", "r", "--inherits", "ghost"], "no role named 'ghost' to inherit"),
    (["role", "create", "bad name"], "role name 'bad name'"),
    (["role", "update", "ghost", "--permission", "a:b"], "no role named 'ghost'"),
    (["role", "update", "authgate-admin"], "nothing to change"),
    (["role", "update", "authgate-admin", "--inherits", "authgate-admin"], "cannot inherit itself"),
    (["role", "update", "authgate-admin", "--inherits", "x", "--no-inherits"], "not both"),
    (["group", "create", "g", "--member", "ghost"], "no user named 'ghost'"),
    (["group", "delete", "ghost"], "no group named 'ghost'"),
    (["group", "remove-member", "ghost", "admin"], "no group named 'ghost'"),
    (["bind", "viewer", "--user", "admin"], "no role named 'viewer'"),
    (["bind", "authgate-admin", "--user", "ghost"], "no user named 'ghost'"),
    (["bind", "authgate-admin", "--group", "ghost"], "no group named 'ghost'"),
    (["bind", "authgate-admin", "--client", "ghost"], "no client with id 'ghost'"),
    (["bind", "authgate-admin", "--user", "admin", "--client", "c"], "exactly one of"),
    (["bind", "authgate-admin", "--user", "admin", "--scope", "acme"], "not type:id"),
    (["bind", "authgate-admin", "--user", "admin"], "already has role"),
    (["bind", "authgate-admin", "--user", "admin", "--condition", "1 + 1"], "boolean"),
    (["unbind", "bnd_ghost"], "no binding with id 'bnd_ghost'"),
    (["check", "alice", "docs:read"], "must be user:<username or id> or client:<client_id>"),
    (["check", "group:staff", "docs:read"], "must be user:"),
    (["check", "user:", "docs:read"], "must be user:"),
    (["check", "user:admin", "read"], "resource:action"),
    (["check", "user:admin", "docs:read", "--resource", "a b"], "--resource"),
    (["check", "user:admin", "docs:read", "--context", "[1]"], "--context must be a JSON object"),
    (["check", "user:admin", "docs:read", "--resource-properties", "{"], "is not JSON"),
    (["check", "user:ghost", "docs:read"], "no user named 'ghost'"),
    (["check", "client:ghost", "docs:read"], "no client with id 'ghost'"),
]  # fmt: skip


def test_bad_input_fails_cleanly_and_writes_nothing(ready: Ready) -> None:
    before = _audit(ready)
    for args, message in ERRORS:
        assert message in _fails(ready, *args), args
    assert _audit(ready) == before
    assert [r["name"] for r in _json(ready, "role", "list", "--json")["roles"]] == [
        "authgate-admin"
    ]
    assert _json(ready, "group", "list", "--json") == {"groups": []}
    # The admin is still allowed everything: the refused commands changed nothing.
    assert _json(ready, "check", "user:admin", "anything:at-all", "--json")["decision"] is True
