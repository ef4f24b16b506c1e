"""Nobody grants through the admin API what they do not hold (docs/admin-api.md,
"Privilege escalation"). An ``org:acme`` bindings admin may bind inside ``org:acme`` roles
whose every permission they hold there — and nothing else: not at ``/``, not at
``org:other``, not a role with a permission they lack, not themselves at a wider scope.
An ``authgate-admin`` (``*`` on ``/``) may do all of it. Every refusal changes nothing.

The HTTP client and the admin callers come from the other test modules, imported by
name; hence F401 and F811 are off for this file.
"""

# ruff: noqa: F401, F811

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.rbac.admin import AccessDenied, AdminPolicy, EscalationRefused
from tests.conformance.conftest import _model_changes_seen_at_once, _one_rsa_key_per_run, http
from tests.web.test_admin_api import (
    BINDINGS,
    GROUPS,
    ROLES,
    Admins,
    _no_groups_left,
    admins,
    assert_error,
    root,
    walk,
)

ACME_ADMIN = (
    "authgate:bindings.read",
    "authgate:bindings.write",
    "orders:read",
    "orders:write",
)


@pytest.fixture
async def world(container: Container, admins: Admins, root: dict[str, str]) -> None:
    """Roles to hand out (``root`` made ``authgate-admin``), and a user to hand them to."""
    await admins.role("clerk", "orders:read", "orders:write")
    await admins.role("reader", "orders:read")
    await admins.role("auditor", "orders:read", "ledger:read")
    await container.access.create_role(CLI, "manager", ["orders:delete"], inherits=["clerk"])
    await admins.role("acme-admin", *ACME_ADMIN)
    await container.users.create("carol", CLI)


@pytest.fixture
async def acme(admins: Admins, world: None) -> tuple[str, dict[str, str]]:
    """A client that administers bindings in org:acme and holds clerk rights there."""
    return await admins.client(("acme-admin", "org:acme"))


def bind(role: str, scope: str, member: str = "user:carol") -> dict[str, str]:
    return {"role": role, "member": member, "scope": scope}


async def _unchanged(http: httpx.AsyncClient, root: dict[str, str], before: list[object]) -> None:
    assert await walk(http, BINDINGS, root) == before, "a refused request changed bindings"


async def test_a_scoped_admin_binds_inside_their_scope(
    http: httpx.AsyncClient, acme: tuple[str, dict[str, str]]
) -> None:
    _, headers = acme
    for role, scope in (
        ("clerk", "org:acme"),
        ("reader", "org:acme/project:42"),
        ("acme-admin", "org:acme/project:7"),
    ):
        response = await http.post(BINDINGS, json=bind(role, scope), headers=headers)
        assert response.status_code == 201, response.text
    listed = await http.get(BINDINGS, params={"scope": "org:acme"}, headers=headers)
    assert listed.status_code == 200
    # The caller's own acme-admin binding is at org:acme too.
    assert sorted(b["role"] for b in listed.json()["items"]) == ["acme-admin", "clerk"]


@pytest.mark.parametrize("scope", ["/", "org:other", "org:acmecorp", "org:other/org:acme"], ids=str)
async def test_a_scoped_admin_cannot_bind_outside_their_scope(
    http: httpx.AsyncClient,
    acme: tuple[str, dict[str, str]],
    root: dict[str, str],
    scope: str,
) -> None:
    _, headers = acme
    before = await walk(http, BINDINGS, root)
    response = await http.post(BINDINGS, json=bind("reader", scope), headers=headers)
    body = assert_error(response, 403, "insufficient_scope")
    assert body["permission"] == "authgate:bindings.write"
    assert body["scope"] == (scope.strip("/") or "/")
    assert f"scope {body['scope']}" in body["error_description"]
    await _unchanged(http, root, before)


@pytest.mark.parametrize(
    ("role", "missing"),
    [
        ("manager", "orders:delete"),  # its own permission
        ("auditor", "ledger:read"),  # one of two
        ("authgate-admin", "*"),  # everything: only an authgate-admin holds *
    ],
)
async def test_a_scoped_admin_cannot_grant_a_permission_they_lack(
    http: httpx.AsyncClient,
    acme: tuple[str, dict[str, str]],
    root: dict[str, str],
    role: str,
    missing: str,
) -> None:
    _, headers = acme
    before = await walk(http, BINDINGS, root)
    response = await http.post(BINDINGS, json=bind(role, "org:acme"), headers=headers)
    body = assert_error(response, 403, "privilege_escalation")
    assert (body["permission"], body["scope"]) == (missing, "org:acme")
    assert missing in body["error_description"]
    assert "www-authenticate" not in response.headers, "a new token would not help"
    await _unchanged(http, root, before)


async def test_inherited_permissions_count_too(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: None
) -> None:
    """A bindings admin at org:acme who holds orders:delete there (but not via clerk's
    parent) still must hold what ``manager`` inherits from ``clerk``."""
    await admins.role("deleter", "orders:delete")
    await admins.role("binder", "authgate:bindings.write")
    _, headers = await admins.client(("binder", "org:acme"), ("deleter", "org:acme"))
    response = await http.post(BINDINGS, json=bind("manager", "org:acme"), headers=headers)
    body = assert_error(response, 403, "privilege_escalation")
    assert body["permission"] == "orders:read"  # inherited from clerk


async def test_a_scoped_admin_cannot_bind_themselves_wider(
    http: httpx.AsyncClient, acme: tuple[str, dict[str, str]], root: dict[str, str]
) -> None:
    client_id, headers = acme
    before = await walk(http, BINDINGS, root)
    for scope in ("/", "org:other"):
        response = await http.post(
            BINDINGS, json=bind("acme-admin", scope, f"client:{client_id}"), headers=headers
        )
        assert_error(response, 403, "insufficient_scope")
    await _unchanged(http, root, before)
    # Still only org:acme: the API answers as before.
    refused = await http.post(BINDINGS, json=bind("reader", "/"), headers=headers)
    assert_error(refused, 403, "insufficient_scope")


async def test_a_scoped_admin_cannot_see_or_remove_bindings_elsewhere(
    http: httpx.AsyncClient,
    container: Container,
    admins: Admins,
    acme: tuple[str, dict[str, str]],
    root: dict[str, str],
) -> None:
    _, headers = acme
    elsewhere = await container.access.bind(CLI, "reader", "user:carol", "org:other")
    inside = await container.access.bind(CLI, "reader", "user:carol", "org:acme/project:1")
    # Unreadable: answered like a binding that does not exist (its scope stays private).
    for method in ("GET", "DELETE"):
        response = await http.request(method, f"{BINDINGS}/{elsewhere.id}", headers=headers)
        assert_error(response, 404, "not_found")
    assert_error(await http.get(BINDINGS, headers=headers), 403, "insufficient_scope")
    other = await http.get(BINDINGS, params={"scope": "org:other"}, headers=headers)
    assert_error(other, 403, "insufficient_scope")
    # Readable but not writable there: 403 naming the permission and scope.
    await admins.role("viewer", "authgate:bindings.read")
    _, viewer = await admins.client(("viewer", "/"), ("acme-admin", "org:acme"))
    refused = await http.delete(f"{BINDINGS}/{elsewhere.id}", headers=viewer)
    body = assert_error(refused, 403, "insufficient_scope")
    assert (body["permission"], body["scope"]) == ("authgate:bindings.write", "org:other")
    assert (await http.get(f"{BINDINGS}/{elsewhere.id}", headers=root)).status_code == 200
    # Inside their scope they may remove it.
    assert (await http.delete(f"{BINDINGS}/{inside.id}", headers=headers)).status_code == 204


async def test_an_authgate_admin_may_grant_anything_anywhere(
    http: httpx.AsyncClient, root: dict[str, str], world: None
) -> None:
    for role, scope in (
        ("authgate-admin", "/"),
        ("manager", "org:other"),
        ("auditor", "org:acme"),
        ("acme-admin", "/"),
    ):
        response = await http.post(BINDINGS, json=bind(role, scope), headers=root)
        assert response.status_code == 201, response.text
    role = {"name": "super", "permissions": ["*"], "inherits": ["manager"]}
    assert (await http.post(ROLES, json=role, headers=root)).status_code == 201


# -- roles --------------------------------------------------------------------------------


@pytest.fixture
async def role_admin(admins: Admins, world: None) -> dict[str, str]:
    """Holds roles.write on / and the clerk permissions, nothing more."""
    await admins.role("role-admin", "authgate:roles.read", "authgate:roles.write")
    _, headers = await admins.client(("role-admin", "/"), ("clerk", "/"))
    return headers


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"name": "r", "permissions": ["orders:delete"]}, "orders:delete"),
        ({"name": "r", "permissions": ["orders:*"]}, "orders:*"),
        ({"name": "r", "permissions": ["*"]}, "*"),
        ({"name": "r", "inherits": ["manager"]}, "orders:delete"),
        ({"name": "r", "permissions": ["orders:read"], "inherits": ["auditor"]}, "ledger:read"),
    ],
    ids=["own", "wildcard-action", "everything", "inherited", "inherited-of-two"],
)
async def test_a_role_admin_cannot_create_a_role_holding_more_than_they_do(
    http: httpx.AsyncClient,
    role_admin: dict[str, str],
    root: dict[str, str],
    body: dict[str, object],
    missing: str,
) -> None:
    response = await http.post(ROLES, json=body, headers=role_admin)
    found = assert_error(response, 403, "privilege_escalation")
    assert (found["permission"], found["scope"]) == (missing, "/")
    assert_error(await http.get(ROLES + "/r", headers=root), 404, "not_found")


async def test_a_role_admin_cannot_widen_a_role_beyond_what_they_hold(
    http: httpx.AsyncClient, role_admin: dict[str, str], root: dict[str, str]
) -> None:
    fine = await http.post(
        ROLES, json={"name": "r", "permissions": ["orders:read"]}, headers=role_admin
    )
    assert fine.status_code == 201, fine.text
    for change, missing in (
        ({"permissions": ["orders:read", "orders:delete"]}, "orders:delete"),
        ({"inherits": ["manager"]}, "orders:delete"),
    ):
        response = await http.patch(ROLES + "/r", json=change, headers=role_admin)
        found = assert_error(response, 403, "privilege_escalation")
        assert found["permission"] == missing
    # A role they do not fully hold already may still be narrowed to what they hold.
    narrowed = await http.patch(
        ROLES + "/manager", json={"permissions": ["orders:write"]}, headers=role_admin
    )
    assert narrowed.status_code == 200, narrowed.text
    current = await http.get(ROLES + "/r", headers=root)
    assert current.json()["permissions"] == ["orders:read"]


# -- groups -------------------------------------------------------------------------------


async def test_joining_a_group_needs_what_its_bindings_grant(
    http: httpx.AsyncClient, container: Container, admins: Admins, world: None
) -> None:
    """Adding a member hands them each binding of the group; a groups admin who could
    not make those bindings cannot add anyone — least of all themselves."""
    await admins.role("group-admin", "authgate:groups.read", "authgate:groups.write")
    await container.users.create("dave", CLI)
    await container.access.create_group(CLI, "admins")
    await container.access.bind(CLI, "clerk", "group:admins", "org:acme")
    await container.access.bind(CLI, "authgate-admin", "group:admins", "org:acme/project:1")
    _, headers = await admins.client(("group-admin", "/"), ("clerk", "/"))
    response = await http.post(GROUPS + "/admins/members", json={"user": "dave"}, headers=headers)
    found = assert_error(response, 403, "privilege_escalation")
    assert (found["permission"], found["scope"]) == ("*", "org:acme/project:1")
    assert (await container.access.get_group("admins")).members == ()

    await container.access.create_group(CLI, "clerks")
    await container.access.bind(CLI, "clerk", "group:clerks", "org:acme")
    added = await http.post(GROUPS + "/clerks/members", json={"user": "dave"}, headers=headers)
    assert added.status_code == 201, added.text


# -- the rules in the domain layer, for a user caller --------------------------------------


@dataclass(frozen=True)
class Person:
    subject_type: str
    subject_id: str

    def key_allows(self, permission: str) -> bool:
        return True  # a person signed in, not an API key


async def test_the_policy_applies_to_users_as_to_clients(container: Container, world: None) -> None:
    """The rules live in ``rbac/admin.py``, not in the routes: a person bound as an
    ``org:acme`` bindings admin is held to them exactly as a client is."""
    carol = await container.users.get("carol")
    await container.access.bind(CLI, "acme-admin", "user:carol", "org:acme")
    policy = AdminPolicy(container.engine, container.access)
    person = Person("user", carol.id)
    assert await policy.check_bind(person, "clerk", "/org:acme/team:a/") == "org:acme/team:a"
    with pytest.raises(AccessDenied) as refused:
        await policy.check_bind(person, "clerk", "/")
    assert (refused.value.permission, refused.value.scope) == ("authgate:bindings.write", "/")
    with pytest.raises(EscalationRefused) as escalation:
        await policy.check_bind(person, "manager", "org:acme")
    assert escalation.value.permission == "orders:delete"
    assert await policy.role_permissions("manager") == {
        "orders:delete",
        "orders:read",
        "orders:write",
    }
    # Disabled, the person holds nothing at all.
    await container.users.set_disabled("carol", True, CLI)
    with pytest.raises(AccessDenied):
        await policy.check_bind(person, "reader", "org:acme")


async def test_a_conditional_grant_is_neither_admin_power_nor_grantable(
    container: Container,
) -> None:
    """A permission held only under a condition cannot be judged outside a resource's
    context: a condition that holds when data is missing must not let its holder hand
    the permission on unconditionally, nor administer with it."""
    await container.users.create("dora", CLI, user_id="u-dora")
    await container.access.create_role(CLI, "binder", ["authgate:bindings.write"])
    await container.access.create_role(CLI, "doc-all", ["doc:*"])
    await container.access.bind(CLI, "binder", "user:dora", "org:c")
    lax = "!has(resource.properties) || !has(resource.properties.classified)"
    await container.access.bind(CLI, "doc-all", "user:dora", "org:c", condition=lax)
    await container.access.bind(
        CLI, "binder", "user:dora", "org:d", condition="context.approved == true"
    )
    policy = AdminPolicy(container.engine, container.access)
    dora = Person("user", "u-dora")
    with pytest.raises(EscalationRefused) as refused:
        await policy.check_bind(dora, "doc-all", "org:c")
    assert refused.value.permission.startswith("doc:")
    with pytest.raises(AccessDenied) as denied:
        await policy.check_bind(dora, "doc-all", "org:d")
    assert denied.value.permission == "authgate:bindings.write"
