"""Groups (with members), bindings and user attributes through the admin API: each
resource's life, its 400/404/409/412 answers, and that bad input changes nothing.

The HTTP client, the admin callers and the conventions' helpers come from the other
test modules, imported by name; hence F401 and F811 are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

import json

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.container import Container
from tests.conformance.conftest import _model_changes_seen_at_once, _one_rsa_key_per_run, http
from tests.web.test_admin_api import (
    BINDINGS,
    GROUPS,
    Admins,
    _no_groups_left,
    admins,
    assert_error,
    events,
    root,
    walk,
)

USERS = "/admin/v1/users"


@pytest.fixture
async def people(container: Container) -> dict[str, str]:
    """Two users by username → id (Bob's id is caller-chosen)."""
    alice = await container.users.create("alice", CLI, attributes={"department": "sales"})
    bob = await container.users.create("bob", CLI, user_id="emp-0042")
    return {"alice": alice.id, "bob": bob.id}


# -- groups and members -------------------------------------------------------------------


async def test_group_life_with_members(
    http: httpx.AsyncClient,
    container: Container,
    root: dict[str, str],
    people: dict[str, str],
) -> None:
    created = await http.post(
        GROUPS,
        json={"name": "support", "description": "First line", "members": ["alice"]},
        headers=root,
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == container.settings.issuer + GROUPS + "/support"
    assert created.json() == {
        "name": "support",
        "description": "First line",
        "members": [people["alice"]],
    }
    members = location + "/members"

    # Add Bob by username; his membership is addressed by user id.
    added = await http.post(members, json={"user": "bob"}, headers=root)
    assert added.status_code == 201, added.text
    assert added.json() == {"group": "support", "user": "emp-0042"}
    assert added.headers["location"] == members + "/emp-0042"
    again = await http.post(members, json={"user": "emp-0042"}, headers=root)
    assert_error(again, 409, "conflict")

    listed = await walk(http, members + "?limit=1", root)
    assert [m["user"] for m in listed] == sorted(people.values())
    one = await http.get(members + "/emp-0042", headers=root)
    assert one.status_code == 200 and one.headers["etag"]
    by_name = await http.get(members + "/bob", headers=root)
    assert by_name.json() == one.json()

    group = await http.get(location, headers=root)
    assert set(group.json()["members"]) == set(people.values())
    assert group.headers["etag"] != created.headers["etag"], "members are part of the group"

    removed = await http.delete(
        members + "/emp-0042", headers=root | {"If-Match": one.headers["etag"]}
    )
    assert removed.status_code == 204
    assert_error(await http.delete(members + "/emp-0042", headers=root), 404, "not_found")
    assert_error(await http.get(members + "/bob", headers=root), 404, "not_found")

    stale = await http.delete(location, headers=root | {"If-Match": group.headers["etag"]})
    assert_error(stale, 412, "precondition_failed")
    current = (await http.get(location, headers=root)).headers["etag"]
    assert (await http.delete(location, headers=root | {"If-Match": current})).status_code == 204
    assert_error(await http.get(location, headers=root), 404, "not_found")

    added_events = await events(container, AuditTag.GROUP_MEMBER_ADDED)
    assert [e.details["user"] for e in added_events] == ["emp-0042"]
    assert added_events[0].actor is not None and added_events[0].actor.startswith("client:")


async def test_group_conflicts_and_unknowns(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], people: dict[str, str]
) -> None:
    await container.access.create_group(CLI, "support")
    assert_error(await http.post(GROUPS, json={"name": "support"}, headers=root), 409, "conflict")
    unknown_member = {"name": "new", "members": ["nobody"]}
    assert_error(await http.post(GROUPS, json=unknown_member, headers=root), 404, "not_found")
    assert_error(await http.get(GROUPS + "/new", headers=root), 404, "not_found")
    add_nobody = await http.post(GROUPS + "/support/members", json={"user": "nobody"}, headers=root)
    assert_error(add_nobody, 404, "not_found")
    to_missing = await http.post(GROUPS + "/none/members", json={"user": "alice"}, headers=root)
    assert_error(to_missing, 404, "not_found")
    assert_error(await http.get(GROUPS + "/support/members/nobody", headers=root), 404, "not_found")
    assert_error(await http.get(GROUPS + "/support/members/alice", headers=root), 404, "not_found")
    empty = await http.patch(GROUPS + "/support", json={}, headers=root)
    assert empty.status_code == 400, "a change names the description"
    missing = await http.patch(GROUPS + "/none", json={"description": "x"}, headers=root)
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "description": "a\u0000b"},
        {"name": "x", "description": "d" * 501},
        {"name": "x", "description": 5},
        {"name": "x", "members": "alice"},
        {"name": "x", "members": [None]},
        {"name": "bad name"},
        {"name": "x" * 151},
        {"name": "x", "owner": "alice"},
    ],
    ids=[
        "nul-description",
        "long-description",
        "description-a-number",
        "members-a-string",
        "member-null",
        "space-in-name",
        "long-name",
        "unknown-member",
    ],
)
async def test_bad_groups_are_400_and_create_nothing(
    http: httpx.AsyncClient, root: dict[str, str], people: dict[str, str], body: object
) -> None:
    assert_error(await http.post(GROUPS, json=body, headers=root), 400, "invalid_request")
    assert (await http.get(GROUPS, headers=root)).json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    "body",
    [{}, {"user": ""}, {"user": 42}, {"user": "a\u0000"}, {"user": "x" * 400}, {"users": ["a"]}],
    ids=["empty", "blank", "number", "nul", "long", "unknown-member"],
)
async def test_bad_member_bodies_are_400(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], body: object
) -> None:
    await container.access.create_group(CLI, "support")
    response = await http.post(GROUPS + "/support/members", json=body, headers=root)
    assert_error(response, 400, "invalid_request")


# -- bindings -----------------------------------------------------------------------------


async def test_binding_life(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    root: dict[str, str],
    people: dict[str, str],
) -> None:
    await admins.role("reader", "orders:read")
    created = await http.post(
        BINDINGS,
        json={
            "role": "reader",
            "member": "user:alice",
            "scope": "/org:acme/",
            "condition": "subject.properties.department == 'sales'",
        },
        headers=root,
    )
    assert created.status_code == 201, created.text
    binding = created.json()
    assert binding["id"].startswith("bnd_")
    assert binding | {"id": None} == {
        "id": None,
        "role": "reader",
        "member": f"user:{people['alice']}",
        "scope": "org:acme",
        "condition": "subject.properties.department == 'sales'",
    }
    location = created.headers["location"]
    assert location == f"{container.settings.issuer}{BINDINGS}/{binding['id']}"
    decision = await container.engine.check("user", "alice", "orders:read", "org:acme/x:1")
    assert decision.allowed, decision.reason

    fetched = await http.get(location, headers=root)
    assert fetched.json() == binding and fetched.headers["etag"] == created.headers["etag"]
    duplicate = {k: v for k, v in binding.items() if k != "id"} | {"member": "user:alice"}
    assert_error(await http.post(BINDINGS, json=duplicate, headers=root), 409, "conflict")

    filtered = await http.get(BINDINGS, params={"member": "user:alice"}, headers=root)
    assert [b["id"] for b in filtered.json()["items"]] == [binding["id"]]
    by_scope = await http.get(BINDINGS, params={"scope": "org:acme"}, headers=root)
    assert [b["id"] for b in by_scope.json()["items"]] == [binding["id"]]
    by_role = await http.get(BINDINGS, params={"role": "nothing"}, headers=root)
    assert by_role.json()["items"] == []

    assert (await http.patch(location, json={}, headers=root)).status_code == 405
    stale = await http.delete(location, headers=root | {"If-Match": '"old"'})
    assert_error(stale, 412, "precondition_failed")
    removed = await http.delete(location, headers=root | {"If-Match": fetched.headers["etag"]})
    assert removed.status_code == 204
    assert_error(await http.get(location, headers=root), 404, "not_found")
    assert_error(await http.delete(location, headers=root), 404, "not_found")
    assert not (await container.engine.check("user", "alice", "orders:read", "org:acme")).allowed
    (event,) = await events(container, AuditTag.BINDING_DELETED)
    assert event.actor is not None and event.actor.startswith("client:")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"role": "reader", "member": "alice"}, 400),
        ({"role": "reader", "member": "robot:alice"}, 400),
        ({"role": "reader", "member": "user:nobody"}, 404),
        ({"role": "nobody", "member": "user:alice"}, 404),
        ({"role": "reader", "member": "user:alice", "scope": "acme"}, 400),
        ({"role": "reader", "member": "user:alice", "scope": "org:acme//x"}, 400),
        ({"role": "reader", "member": "user:alice", "scope": "org:" + "a" * 2000}, 400),
        ({"role": "reader", "member": "user:alice", "scope": "org:a\u0000"}, 400),
        ({"role": "reader", "member": "user:alice", "condition": "subject.("}, 400),
        ({"role": "reader", "member": "user:alice", "condition": "1 + 1"}, 400),
        ({"role": "reader", "member": "user:alice", "condition": "'\u0000' == ''"}, 400),
        ({"role": "reader", "member": "user:alice", "condition": "x" * 5000}, 400),
        ({"role": "reader", "member": "user:alice", "condition": ""}, 400),
        ({"role": "reader", "member": "user:alice", "condition": 5}, 400),
        ({"role": "reader", "member": "user:alice", "scope": None}, 400),
        ({"role": ["reader"], "member": "user:alice"}, 400),
        ({"member": "user:alice"}, 400),
    ],
    ids=[
        "member-without-kind",
        "member-unknown-kind",
        "member-unknown-user",
        "unknown-role",
        "scope-not-a-path",
        "scope-empty-segment",
        "scope-too-long",
        "scope-nul",
        "condition-does-not-parse",
        "condition-not-boolean",
        "condition-nul",
        "condition-too-long",
        "condition-empty",
        "condition-a-number",
        "scope-null",
        "role-a-list",
        "role-missing",
    ],
)
async def test_bad_bindings_are_refused_and_change_nothing(
    http: httpx.AsyncClient,
    admins: Admins,
    root: dict[str, str],
    people: dict[str, str],
    body: object,
    status: int,
) -> None:
    await admins.role("reader", "orders:read")
    before = await walk(http, BINDINGS, root)
    response = await http.post(BINDINGS, json=body, headers=root)
    assert_error(response, status, "invalid_request" if status == 400 else "not_found")
    assert await walk(http, BINDINGS, root) == before


@pytest.mark.parametrize(
    "params",
    [{"scope": "not a scope"}, {"scope": ""}, {"role": "a\u0000"}, {"member": "user:\u0001"}],
    ids=["scope-malformed", "scope-empty", "role-nul", "member-control"],
)
async def test_bad_binding_filters_are_400(
    http: httpx.AsyncClient, root: dict[str, str], params: dict[str, str]
) -> None:
    assert_error(await http.get(BINDINGS, params=params, headers=root), 400, "invalid_request")


async def test_filters_naming_nobody_list_nothing(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    for member in ("user:nobody", "client:none", "group:none", "nothing", "robot:x"):
        response = await http.get(BINDINGS, params={"member": member}, headers=root)
        assert response.status_code == 200
        assert response.json() == {"items": [], "next": None}


# -- user attributes ----------------------------------------------------------------------


async def test_user_attributes_set_and_unset(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], people: dict[str, str]
) -> None:
    path = f"{USERS}/{people['alice']}/attributes"
    current = await http.get(path, headers=root)
    assert current.json() == {"user": people["alice"], "attributes": {"department": "sales"}}
    by_name = await http.get(f"{USERS}/alice/attributes", headers=root)
    assert by_name.json() == current.json()

    changed = await http.patch(
        path,
        json={"set": {"level": 3, "manager": True, "region": "emea"}, "unset": ["department"]},
        headers=root | {"If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["attributes"] == {"level": 3, "manager": True, "region": "emea"}
    assert changed.headers["etag"] != current.headers["etag"]
    # Conditions see them at once (spec §6: stored attributes are subject.properties).
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.bind(
        CLI, "reader", "user:alice", "/", "subject.properties.region == 'emea'"
    )
    assert (await container.engine.check("user", "alice", "orders:read")).allowed

    stale = await http.patch(
        path, json={"set": {"x": "y"}}, headers=root | {"If-Match": current.headers["etag"]}
    )
    assert_error(stale, 412, "precondition_failed")
    missing = await http.patch(path, json={"unset": ["department"]}, headers=root)
    assert_error(missing, 400, "invalid_request")
    assert (await http.get(path, headers=root)).json() == changed.json()
    (event,) = await events(container, AuditTag.USER_UPDATED)
    assert event.actor is not None and event.actor.startswith("client:")
    assert event.details["changed"] == ["department", "level", "manager", "region"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{}",
        b'{"set": {}, "unset": []}',
        b'{"set": {"a": 1}, "unset": ["a"]}',
        b'{"set": {"bad key": "x"}}',
        b'{"set": {"a": null}}',
        b'{"set": {"a": [1]}}',
        b'{"set": {"a": {"b": 1}}}',
        b'{"set": {"a": "x\\u0000"}}',
        b'{"set": {"a": NaN}}',
        b'{"set": {"a": Infinity}}',
        b'{"set": {"a": 1e400}}',
        b'{"set": {"a": 123456789012345678901234567890}}',
        json.dumps({"set": {"a": "v" * 1025}}).encode(),
        json.dumps({"set": {f"k{i}": i for i in range(65)}}).encode(),
        b'{"set": "a=b"}',
        b'{"unset": "a"}',
        b'{"add": {"a": 1}}',
        b"not json",
    ],
    ids=[
        "nothing",
        "nothing-explicit",
        "set-and-unset",
        "bad-key",
        "null-value",
        "list-value",
        "object-value",
        "nul-value",
        "nan",
        "infinity",
        "overflowing-float",
        "huge-integer",
        "long-value",
        "too-many",
        "set-a-string",
        "unset-a-string",
        "unknown-member",
        "not-json",
    ],
)
async def test_bad_attribute_changes_are_400_and_change_nothing(
    http: httpx.AsyncClient, root: dict[str, str], people: dict[str, str], raw: bytes
) -> None:
    path = f"{USERS}/alice/attributes"
    before = await http.get(path, headers=root)
    response = await http.patch(
        path, content=raw, headers=root | {"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")
    after = await http.get(path, headers=root)
    assert after.json() == before.json()


async def test_attributes_of_an_unknown_user_are_404(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    for method in ("GET", "PATCH"):
        response = await http.request(
            method, f"{USERS}/nobody/attributes", json={"set": {"a": "b"}}, headers=root
        )
        assert_error(response, 404, "not_found")


# -- no input makes a 5xx -----------------------------------------------------------------

NASTY = [
    None,
    0,
    -1,
    10**30,
    1.5,
    True,
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\u202e",
    "é" * 400,
    "x" * 20_000,
    "user:\u0000",
    "group:",
    "client:" + "c" * 400,
    "org:a/" * 300,
    "../..",
    {"$ne": 1},
    [],
    ["\u0000"],
    [None],
    [[]],
    {"a": {"b": {"c": []}}},
]


async def test_no_input_makes_a_5xx(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    root: dict[str, str],
    people: dict[str, str],
) -> None:
    """Spec §4, §7: every field of every body, each replaced by something nasty, gets a
    4xx with a JSON error, or is accepted when it is valid (an empty list), never a 5xx;
    the valid body still works afterwards."""
    await admins.role("reader", "orders:read")
    await container.access.create_group(CLI, "support")
    writes = [
        ("POST", "/admin/v1/roles", {"name": "n", "permissions": ["a:b"], "inherits": []}),
        ("PATCH", "/admin/v1/roles/reader", {"permissions": ["a:b"], "inherits": []}),
        ("POST", GROUPS, {"name": "g", "description": "d", "members": ["alice"]}),
        ("POST", GROUPS + "/support/members", {"user": "bob"}),
        (
            "POST",
            BINDINGS,
            {"role": "reader", "member": "user:alice", "scope": "org:a", "condition": "true"},
        ),
        ("PATCH", f"{USERS}/alice/attributes", {"set": {"a": "b"}, "unset": []}),
    ]
    for method, path, good in writes:
        for field in good:
            for value in NASTY:
                raw = json.dumps(dict(good) | {field: value}).encode()  # \ud800 escaped
                response = await http.request(
                    method, path, content=raw, headers=root | {"Content-Type": "application/json"}
                )
                assert response.status_code < 500, (method, path, field, value, response.text)
                if response.status_code >= 400:
                    assert response.json()["error"], response.text
        response = await http.request(method, path, json=good, headers=root)
        assert response.status_code in {200, 201, 409}, (method, path, response.text)


async def test_attribute_type_errors_name_the_attribute_and_nothing_internal(
    http: httpx.AsyncClient, root: dict[str, str], people: dict[str, str]
) -> None:
    response = await http.patch(
        f"{USERS}/alice/attributes", json={"set": {"n": {"a": 1}}}, headers=root
    )
    assert_error(response, 400, "invalid_request")
    text = response.json()["error_description"]
    assert text.startswith("set.n: ")
    assert "function" not in text and "0x" not in text


async def test_a_groups_description_is_changed_by_patch(
    http: httpx.AsyncClient, container: Container, admins: Admins, root: dict[str, str]
) -> None:
    """``PATCH`` changes the description only, under ``If-Match`` (RFC 9110 §13.1.1); it
    needs ``groups.write`` and is in the audit log."""
    await container.access.create_group(CLI, "support", description="first line")
    current = await http.get(f"{GROUPS}/support", headers=root)
    etag = current.headers["etag"]
    changed = await http.patch(
        f"{GROUPS}/support",
        json={"description": "second line"},
        headers=root | {"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "second line"
    stale = await http.patch(
        f"{GROUPS}/support", json={"description": "third"}, headers=root | {"If-Match": etag}
    )
    assert_error(stale, 412, "precondition_failed")
    too_long = await http.patch(f"{GROUPS}/support", json={"description": "x" * 501}, headers=root)
    assert too_long.status_code in (400, 422)
    await admins.role("group-reader", "authgate:groups.read")
    _, reader = await admins.client(("group-reader", "/"))
    refused = await http.patch(f"{GROUPS}/support", json={"description": "mine"}, headers=reader)
    assert_error(refused, 403, "insufficient_scope")
    assert (await container.access.get_group("support")).description == "second line"
    updated = await events(container, AuditTag.GROUP_UPDATED)
    assert [e.details["description"] for e in updated] == ["second line"]
