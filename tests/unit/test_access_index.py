"""The decision index on its own (``rbac/index.py``), built from a :class:`Snapshot` with
no database: inheritance, groups, the scope hierarchy, wildcards, conditions and the
reasons decisions give (spec §1: effective access)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from authgate.rbac.conditions import compile_condition
from authgate.rbac.index import AccessIndex, Grant, Snapshot, effective_permissions, find_cycle

ALICE = "user:u-alice"
BOB = "user:u-bob"


def grant(
    binding_id: str, member: str, role: str, scope: str = "/", condition: str | None = None
) -> Grant:
    compiled = compile_condition(condition) if condition is not None else None
    return Grant(binding_id, member, role, scope, compiled)


def build(
    roles: Mapping[str, Iterable[str]],
    *bindings: Grant,
    parents: Iterable[tuple[str, str]] = (),
    members: Iterable[tuple[str, str]] = (),
) -> AccessIndex:
    return AccessIndex(
        Snapshot(
            roles={name: tuple(perms) for name, perms in roles.items()},
            parents=list(parents),
            bindings=list(bindings),
            members=list(members),
        )
    )


def data(**seen: Mapping[str, Any]) -> dict[str, Any]:
    """What conditions see; the four variables are always present."""
    return {"subject": {}, "resource": {}, "action": {}, "context": {}, **seen}


class Calls:
    """A ``data`` callable that counts how often the index asked for condition input."""

    def __init__(self, seen: Mapping[str, Any] | None = None) -> None:
        self.seen = dict(seen or data())
        self.count = 0

    def __call__(self) -> Mapping[str, Any]:
        self.count += 1
        return self.seen


# -- inheritance -------------------------------------------------------------------------

DIAMOND = {
    "viewer": ["docs:read"],
    "editor": ["docs:write"],
    "commenter": ["docs:comment"],
    "lead": ["docs:approve"],
}
DIAMOND_EDGES = [
    ("editor", "viewer"),
    ("commenter", "viewer"),
    ("lead", "editor"),
    ("lead", "commenter"),
]


def test_a_diamond_inherits_the_shared_role_once_and_nothing_flows_upwards() -> None:
    index = build(DIAMOND, parents=DIAMOND_EDGES)
    assert index.permissions == {
        "viewer": {"docs:read"},
        "editor": {"docs:read", "docs:write"},
        "commenter": {"docs:read", "docs:comment"},
        "lead": {"docs:read", "docs:write", "docs:comment", "docs:approve"},
    }


def test_a_binding_to_the_bottom_of_a_diamond_grants_what_the_top_holds() -> None:
    index = build(DIAMOND, grant("b-lead", ALICE, "lead"), parents=DIAMOND_EDGES)
    for permission in ("docs:read", "docs:write", "docs:comment", "docs:approve"):
        decision = index.decide(ALICE, permission)
        assert decision.allowed, decision.reason
        assert decision.grant is not None and decision.grant.binding_id == "b-lead"
    assert not index.decide(ALICE, "docs:delete").allowed


def test_a_chain_of_50_roles_resolves_every_level() -> None:
    roles = {f"r{i}": [f"level{i}:use"] for i in range(50)}
    chain = [(f"r{i}", f"r{i + 1}") for i in range(49)]  # r0 inherits r1 … inherits r49
    index = build(roles, grant("b-top", ALICE, "r0"), grant("b-mid", BOB, "r25"), parents=chain)
    assert index.permissions["r0"] == {f"level{i}:use" for i in range(50)}
    assert index.permissions["r25"] == {f"level{i}:use" for i in range(25, 50)}
    assert index.permissions["r49"] == {"level49:use"}
    assert index.decide(ALICE, "level49:use").allowed
    assert index.decide(BOB, "level49:use").allowed
    assert not index.decide(BOB, "level24:use").allowed


def test_the_order_roles_are_read_in_does_not_change_what_they_inherit() -> None:
    """The database returns rows in no particular order."""
    roles = {f"r{i}": [f"level{i}:use"] for i in range(10)}
    chain = [(f"r{i}", f"r{i + 1}") for i in range(9)]
    forward = effective_permissions(roles, chain)
    backward = effective_permissions(dict(reversed(roles.items())), list(reversed(chain)))
    assert forward == backward


def test_a_chain_deeper_than_the_interpreters_recursion_limit_resolves() -> None:
    depth = 3000
    roles = {f"r{i}": [f"level{i}:use"] for i in range(depth)}
    chain = [(f"r{i}", f"r{i + 1}") for i in range(depth - 1)]
    assert find_cycle(chain) is None
    assert len(effective_permissions(roles, chain)["r0"]) == depth


def test_find_cycle_names_the_roles_along_the_cycle() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("x", "a")]
    cycle = find_cycle(edges)
    assert cycle is not None
    assert cycle[0] == cycle[-1], "the cycle is closed: it ends where it starts"
    assert set(cycle) == {"a", "b", "c"}
    steps = list(itertools.pairwise(cycle))
    assert all(step in edges for step in steps), steps


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ([("a", "a")], ["a", "a"]),
        ([("a", "b"), ("b", "a")], ["a", "b", "a"]),
        ([("a", "b"), ("b", "c"), ("a", "c")], None),
        (DIAMOND_EDGES, None),
        ([], None),
    ],
    ids=["self", "two-roles", "triangle-without-cycle", "diamond", "empty"],
)
def test_find_cycle(edges: list[tuple[str, str]], expected: list[str] | None) -> None:
    assert find_cycle(edges) == expected


# -- groups ------------------------------------------------------------------------------


def test_what_is_granted_to_a_group_is_granted_to_its_members_only() -> None:
    index = build(
        {"viewer": ["docs:read"]},
        grant("b-eng", "group:engineers", "viewer"),
        members=[("engineers", "u-alice"), ("sales", "u-bob")],
    )
    assert index.groups_of(ALICE) == ("group:engineers",)
    allowed = index.decide(ALICE, "docs:read")
    assert allowed.allowed
    assert "binding b-eng: group:engineers has role 'viewer' on /" in allowed.reason
    denied = index.decide(BOB, "docs:read")
    assert not denied.allowed
    assert denied.reason == "denied: no binding of user:u-bob or its groups grants docs:read on /"


def test_a_member_of_several_groups_holds_what_each_grants() -> None:
    index = build(
        {"viewer": ["docs:read"], "biller": ["invoices:send"]},
        grant("b1", "group:engineers", "viewer"),
        grant("b2", "group:billing", "biller", "org:acme"),
        members=[("engineers", "u-alice"), ("billing", "u-alice")],
    )
    assert index.groups_of(ALICE) == ("group:billing", "group:engineers")
    assert index.decide(ALICE, "docs:read", "org:globex").allowed
    assert index.decide(ALICE, "invoices:send", "org:acme/project:1").allowed
    assert not index.decide(ALICE, "invoices:send", "org:globex").allowed


# -- the scope hierarchy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "path", "allowed"),
    [
        ("org:acme", "org:acme", True),
        ("org:acme", "org:acme/project:1", True),
        ("org:acme", "org:acme/project:1/document:7", True),
        ("org:acme", "org:acme2", False),
        ("org:acme", "org:acme2/x:1", False),
        ("org:acme", "org:globex", False),
        ("org:acme", "/", False),
        ("/", "/", True),
        ("/", "org:acme", True),
        ("/", "org:globex/project:9/document:3", True),
        ("org:acme/project:1", "org:acme/project:1/document:7", True),
        ("org:acme/project:1", "org:acme", False),
        ("org:acme/project:1", "org:acme/project:12", False),
        ("org:acme/project:1", "org:acme/project:2", False),
        ("org:acme/project:1", "org:other/project:1", False),
    ],
    ids=[
        "own-scope",
        "child",
        "grandchild",
        "prefix-is-not-a-parent",
        "prefix-is-not-a-parent-below",
        "sibling",
        "root-is-above",
        "root-at-root",
        "root-covers-an-org",
        "root-covers-everything",
        "project-covers-its-documents",
        "project-not-its-org",
        "project-1-not-project-12",
        "other-project",
        "same-id-other-org",
    ],
)
def test_a_binding_applies_at_its_scope_and_below_segment_by_segment(
    scope: str, path: str, allowed: bool
) -> None:
    index = build({"viewer": ["docs:read"]}, grant("b1", ALICE, "viewer", scope))
    decision = index.decide(ALICE, "docs:read", path)
    assert decision.allowed is allowed, decision.reason
    if allowed:
        assert decision.reason == f"allowed by binding b1: {ALICE} has role 'viewer' on {scope}"
    else:
        assert decision.reason == (
            f"denied: no binding of {ALICE} or its groups grants docs:read on {path}"
        )


def test_the_most_specific_binding_is_the_one_named() -> None:
    index = build(
        {"viewer": ["docs:read"]},
        grant("b-root", ALICE, "viewer", "/"),
        grant("b-org", ALICE, "viewer", "org:acme"),
        grant("b-project", ALICE, "viewer", "org:acme/project:1"),
    )
    assert index.decide(ALICE, "docs:read", "org:acme/project:1/document:2").grant == grant(
        "b-project", ALICE, "viewer", "org:acme/project:1"
    )
    named = index.decide(ALICE, "docs:read", "org:acme/project:2").grant
    assert named is not None and named.binding_id == "b-org"
    named = index.decide(ALICE, "docs:read", "org:globex").grant
    assert named is not None and named.binding_id == "b-root"


# -- wildcards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "wanted", "allowed"),
    [
        ("orders:*", "orders:read", True),
        ("orders:*", "orders:delete", True),
        ("orders:*", "invoices:read", False),
        ("orders:*", "orders2:read", False),
        ("orders:read", "orders:*", False),
        ("orders:read", "Orders:read", False),
        ("*", "orders:read", True),
        ("*", "authgate:users.write", True),
        ("*", "*", True),
    ],
    ids=[
        "resource-wildcard",
        "resource-wildcard-any-action",
        "resource-wildcard-other-resource",
        "resource-wildcard-is-not-a-prefix",
        "no-upward",
        "case-sensitive",
        "everything",
        "everything-admin",
        "everything-itself",
    ],
)
def test_wildcard_actions(held: str, wanted: str, allowed: bool) -> None:
    index = build({"r": [held]}, grant("b1", ALICE, "r", "org:acme"))
    assert index.decide(ALICE, wanted, "org:acme/project:1").allowed is allowed
    assert not index.decide(ALICE, wanted, "org:globex").allowed, "the scope still applies"


def test_an_inherited_wildcard_covers_too() -> None:
    index = build(
        {"ops": ["orders:*"], "oncall": []},
        grant("b1", ALICE, "oncall"),
        parents=[("oncall", "ops")],
    )
    assert index.decide(ALICE, "orders:refund").allowed
    assert not index.decide(ALICE, "invoices:refund").allowed


# -- conditions --------------------------------------------------------------------------

OWNER = "resource.properties.owner == subject.id"


def test_a_condition_that_holds_allows_and_is_named_in_the_reason() -> None:
    index = build({"editor": ["docs:write"]}, grant("b1", ALICE, "editor", "org:acme", OWNER))
    seen = data(subject={"id": "u-alice"}, resource={"properties": {"owner": "u-alice"}})
    decision = index.decide(ALICE, "docs:write", "org:acme/document:1", lambda: seen)
    assert decision.allowed
    assert decision.reason == (
        f"allowed by binding b1: {ALICE} has role 'editor' on org:acme when {OWNER}"
    )
    assert decision.errors == ()


def test_a_condition_that_does_not_hold_denies_without_errors() -> None:
    index = build({"editor": ["docs:write"]}, grant("b1", ALICE, "editor", "/", OWNER))
    seen = data(subject={"id": "u-alice"}, resource={"properties": {"owner": "u-bob"}})
    decision = index.decide(ALICE, "docs:write", "document:1", lambda: seen)
    assert not decision.allowed
    assert decision.errors == ()
    assert (
        decision.reason
        == f"denied: no binding of {ALICE} or its groups grants docs:write on document:1"
    )


@pytest.mark.parametrize(
    ("condition", "seen", "error"),
    [
        (OWNER, data(subject={"id": "u-alice"}), '"properties"'),
        (
            "resource.properties.size > 3",
            data(resource={"properties": {"size": "big"}}),
            "(string, int64)",
        ),
        ("context.note", data(context={"note": "yes"}), "not a boolean"),
    ],
    ids=["missing-key", "type-mismatch", "not-a-boolean"],
)
def test_a_condition_that_cannot_be_evaluated_denies_and_says_why(
    condition: str, seen: dict[str, Any], error: str
) -> None:
    index = build({"editor": ["docs:write"]}, grant("b1", ALICE, "editor", "/", condition))
    decision = index.decide(ALICE, "docs:write", "document:1", lambda: seen)
    assert not decision.allowed
    assert decision.grant is None
    assert len(decision.errors) == 1
    assert decision.errors[0].startswith(f"binding b1: {ALICE} has role 'editor' on / when ")
    assert error in decision.errors[0]
    assert "failed to evaluate" in decision.reason
    assert decision.errors[0] in decision.reason
    assert decision.to_json()["errors"] == list(decision.errors)


def test_an_erroring_condition_does_not_stop_another_binding_from_allowing() -> None:
    index = build(
        {"editor": ["docs:write"]},
        grant("b1", ALICE, "editor", "org:acme/project:1", "context.missing == 1"),
        grant("b2", ALICE, "editor", "org:acme", "context.ip == '10.0.0.1'"),
    )
    decision = index.decide(
        ALICE, "docs:write", "org:acme/project:1", lambda: data(context={"ip": "10.0.0.1"})
    )
    assert decision.allowed
    assert decision.grant is not None and decision.grant.binding_id == "b2"


def test_a_condition_runs_only_when_its_role_would_grant_the_permission() -> None:
    index = build(
        {"viewer": ["docs:read"], "editor": ["docs:write"]},
        grant("b1", ALICE, "editor", "/", OWNER),
    )
    calls = Calls()
    assert not index.decide(ALICE, "docs:read", "/", calls).allowed
    assert calls.count == 0


def test_an_unconditional_binding_decides_before_a_conditional_one_at_the_same_scope() -> None:
    # "a-…" sorts before "b-…": the order is by kind of binding, not by id.
    index = build(
        {"editor": ["docs:write"]},
        grant("a-conditional", ALICE, "editor", "org:acme", OWNER),
        grant("b-plain", ALICE, "editor", "org:acme"),
    )
    calls = Calls()
    decision = index.decide(ALICE, "docs:write", "org:acme/document:1", calls)
    assert decision.allowed
    assert decision.grant is not None and decision.grant.binding_id == "b-plain"
    assert calls.count == 0, "no condition ran"


@pytest.mark.parametrize(
    "plain",
    [grant("b-plain", ALICE, "editor", "/"), grant("b-plain", "group:staff", "editor", "org:acme")],
    ids=["ancestor-scope", "through-a-group"],
)
def test_an_unconditional_binding_decides_before_any_conditional_one(plain: Grant) -> None:
    index = build(
        {"editor": ["docs:write"]},
        grant("a-conditional", ALICE, "editor", "org:acme/project:1", OWNER),
        plain,
        members=[("staff", "u-alice")],
    )
    calls = Calls()
    decision = index.decide(ALICE, "docs:write", "org:acme/project:1", calls)
    assert decision.allowed
    assert decision.grant == plain
    assert calls.count == 0, "no condition ran"


def test_condition_input_is_built_once_per_decision() -> None:
    index = build(
        {"editor": ["docs:write"]},
        grant("b1", ALICE, "editor", "org:acme/project:1", "context.a == 1"),
        grant("b2", ALICE, "editor", "org:acme", "context.b == 1"),
        grant("b3", ALICE, "editor", "/", "context.c == 1"),
    )
    calls = Calls(data(context={"a": 0, "b": 0, "c": 1}))
    decision = index.decide(ALICE, "docs:write", "org:acme/project:1", calls)
    assert decision.grant is not None and decision.grant.binding_id == "b3"
    assert calls.count == 1


# -- what tokens may carry ---------------------------------------------------------------


def test_root_permissions_hold_only_unconditional_bindings_at_root() -> None:
    index = build(
        {
            "viewer": ["docs:read"],
            "editor": ["docs:write"],
            "owner": ["docs:delete"],
            "auditor": ["audit:read"],
            "admin": ["docs:*"],
        },
        grant("b1", ALICE, "viewer", "/"),
        grant("b2", ALICE, "editor", "/", OWNER),
        grant("b3", ALICE, "owner", "org:acme"),
        grant("b4", "group:auditors", "auditor", "/"),
        grant("b5", "group:auditors", "admin", "org:acme"),
        parents=[("viewer", "auditor")],
        members=[("auditors", "u-alice")],
    )
    assert index.root_permissions(ALICE) == {"docs:read", "audit:read"}
    assert index.root_permissions(BOB) == frozenset()


def test_a_binding_to_a_role_that_is_not_there_grants_nothing() -> None:
    index = build({"viewer": ["docs:read"]}, grant("b1", ALICE, "gone", "/"))
    assert not index.decide(ALICE, "docs:read").allowed
    assert index.root_permissions(ALICE) == frozenset()
    assert index.binding_count == 1
