"""The minimal access model on both databases: APIs, roles, bindings, root permissions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.permissions import check_permission, grants
from authgate.rbac.service import check_scope
from authgate.storage.models import AuditEventRow, BindingRow
from authgate.storage.repositories import ChangeCounterRepository


async def _counter(container: Container) -> int:
    async with container.db.transaction() as session:
        return await ChangeCounterRepository(session).value("access")


async def _count(container: Container, model: type[Any]) -> int:
    async with container.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# -- permissions (no database) -----------------------------------------------------------


@pytest.mark.parametrize("text", ["orders:read", "orders:*", "a.b-c_d:e.f", "X1:y2"])
def test_good_permissions(text: str) -> None:
    assert check_permission(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "orders",
        "orders:",
        ":read",
        "*:read",
        "orders:read:all",
        "or ders:read",
        "orders:re*",
        "órders:read",
        "o:" + "x" * 200,
    ],
)
def test_bad_permissions_are_refused_with_the_rule(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"must look like resource:action \(e.g. orders:read\)"):
        check_permission(text)


@pytest.mark.parametrize(
    ("held", "wanted", "expected"),
    [
        ({"orders:read"}, "orders:read", True),
        ({"orders:read"}, "orders:write", False),
        ({"orders:*"}, "orders:write", True),
        ({"orders:*"}, "orders:*", True),
        ({"orders:*"}, "invoices:read", False),
        ({"Orders:read"}, "orders:read", False),
        ({"orders:read"}, "orders:*", False),
        (set(), "orders:read", False),
    ],
    ids=[
        "exact",
        "other-action",
        "wildcard",
        "wildcard-itself",
        "other-resource",
        "case-sensitive",
        "no-upward",
        "nothing",
    ],
)
def test_grants(held: set[str], wanted: str, expected: bool) -> None:
    assert grants(held, wanted) is expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [("/", "/"), ("org:acme", "org:acme"), ("/org:acme/project:42/", "org:acme/project:42")],
)
def test_scopes_are_resource_paths(scope: str, expected: str) -> None:
    assert check_scope(scope) == expected


@pytest.mark.parametrize("scope", ["", "acme", "org:acme//project:1", "org:a b", "//", "org:"])
def test_bad_scopes_are_refused(scope: str) -> None:
    with pytest.raises(InvalidInput, match="must be / or"):
        check_scope(scope)


# -- APIs --------------------------------------------------------------------------------


async def test_api_create_get_list(container: Container) -> None:
    before = await _counter(container)
    api = await container.apis.create(
        CLI,
        audience="https://orders.example.com",
        name="Orders",
        permissions=["orders:read", "orders:write", "orders:read"],
    )
    assert api.permissions == ("orders:read", "orders:write")
    assert api.token_format == "jwt"
    assert await container.apis.get("https://orders.example.com") == api
    assert await container.apis.get("https://nope.example.com") is None
    assert await container.apis.get("\x00") is None
    opaque = await container.apis.create(
        CLI, audience="urn:example:billing", name="Billing", token_format="opaque"
    )
    assert [a.audience for a in await container.apis.list()] == [api.audience, opaque.audience]
    assert await _counter(container) == before + 2
    with pytest.raises(Conflict, match="already exists"):
        await container.apis.create(CLI, audience="https://orders.example.com", name="Again")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audience": "orders"}, "not an absolute URI"),
        ({"audience": "https://o.example#x"}, "fragment"),
        ({"name": ""}, "API name"),
        ({"permissions": ["read"]}, "resource:action"),
        ({"token_format": "paseto"}, "jwt, opaque"),
    ],
    ids=["relative", "fragment", "name", "permission", "format"],
)
async def test_bad_apis_are_refused(
    container: Container, kwargs: dict[str, Any], message: str
) -> None:
    args = {"audience": "https://o.example", "name": "O", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        await container.apis.create(CLI, **args)
    assert await container.apis.list() == []


# -- roles and bindings --------------------------------------------------------------------


async def test_roles(container: Container) -> None:
    role = await container.access.create_role(CLI, "reader", ["orders:read", "orders:read"])
    assert role.permissions == ("orders:read",)
    with pytest.raises(Conflict, match="a role named 'reader' already exists"):
        await container.access.create_role(CLI, "reader", [])
    with pytest.raises(InvalidInput, match="role name"):
        await container.access.create_role(CLI, "bad name", [])
    with pytest.raises(InvalidInput, match="resource:action"):
        await container.access.create_role(CLI, "broken", ["read"])


async def test_permissions_at_root_unite_the_roles_bound_at_root(container: Container) -> None:
    user = await container.users.create("alice", CLI, user_id="emp-1")
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.create_role(CLI, "invoicer", ["invoices:*", "orders:read"])
    await container.access.create_role(CLI, "scoped", ["projects:delete"])
    first = await container.access.bind(CLI, "reader", "user:alice")
    second = await container.access.bind(CLI, "invoicer", "user:emp-1", "/")
    await container.access.bind(CLI, "scoped", "user:alice", "org:acme")
    assert first.member == second.member == f"user:{user.id}"
    held = await container.engine.permissions_at_root("user:emp-1")
    assert held == frozenset({"orders:read", "invoices:*"})
    assert grants(held, "invoices:void")
    assert not grants(held, "projects:delete")  # bound below the root only
    assert not grants(held, "orders:write")
    await container.access.unbind(CLI, second.id)
    assert await container.engine.permissions_at_root("user:emp-1") == frozenset({"orders:read"})
    assert await container.engine.permissions_at_root("user:alice") == frozenset()  # by id only
    assert await container.engine.permissions_at_root("user:\x00") == frozenset()


async def test_clients_are_members_too(container: Container) -> None:
    client, _ = await container.clients.create(CLI, name="svc")
    await container.access.create_role(CLI, "writer", ["orders:write"])
    binding = await container.access.bind(CLI, "writer", f"client:{client.client_id}")
    assert binding.member == f"client:{client.client_id}"
    assert binding.scope == "/"
    assert binding.id.startswith("bnd_")
    held = await container.engine.permissions_at_root(f"client:{client.client_id}")
    assert held == frozenset({"orders:write"})


async def test_every_access_write_bumps_the_counter_and_is_audited(container: Container) -> None:
    await container.users.create("bob", CLI)
    start = await _counter(container)
    await container.access.create_role(CLI, "reader", ["orders:read"])
    binding = await container.access.bind(CLI, "reader", "user:bob")
    await container.access.unbind(CLI, binding.id)
    assert await _counter(container) == start + 3
    tags = [e.tag for e in await container.audit.recent(3)]
    assert tags == ["binding:deleted", "binding:created", "role:created"]


@pytest.mark.parametrize(
    ("role", "member", "extra", "error", "message"),
    [
        ("reader", "user:nobody", {}, NotFound, "no user named 'nobody'"),
        ("reader", "client:nope", {}, NotFound, "no client with id 'nope'"),
        ("ghost", "user:bob", {}, NotFound, "no role named 'ghost'"),
        ("reader", "group:staff", {}, NotFound, "no group named 'staff'"),
        ("reader", "user:bob", {"condition": "owner =="}, InvalidInput, "does not compile"),
        ("reader", "user:bob", {"condition": "nobody.id == 1"}, InvalidInput, "undeclared"),
        ("reader", "user:bob", {"condition": "'text'"}, InvalidInput, "must give a boolean"),
        ("reader", "bob", {}, InvalidInput, "must be user:<username or id>"),
        ("reader", "user:", {}, InvalidInput, "must be user:<username or id>"),
        ("reader", "user:bob", {"scope": "acme"}, InvalidInput, "must be / or type:id"),
    ],
    ids=[
        "unknown-user",
        "unknown-client",
        "unknown-role",
        "unknown-group",
        "condition-syntax",
        "condition-unknown-variable",
        "condition-not-boolean",
        "no-kind",
        "empty-name",
        "bad-scope",
    ],
)
async def test_bad_bindings_fail_and_write_nothing(
    container: Container,
    role: str,
    member: str,
    extra: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    await container.users.create("bob", CLI)
    await container.access.create_role(CLI, "reader", ["orders:read"])
    counter = await _counter(container)
    events = await _count(container, AuditEventRow)
    with pytest.raises(error, match=message):
        await container.access.bind(CLI, role, member, **extra)
    assert await _count(container, BindingRow) == 0
    assert await _counter(container) == counter
    assert await _count(container, AuditEventRow) == events


async def test_duplicate_binding_and_unknown_unbind(container: Container) -> None:
    await container.users.create("carol", CLI)
    await container.access.create_role(CLI, "reader", ["orders:read"])
    first = await container.access.bind(CLI, "reader", "user:carol", "org:acme")
    with pytest.raises(Conflict, match=first.id):
        await container.access.bind(CLI, "reader", "user:CAROL", "/org:acme/")
    with pytest.raises(NotFound, match="no binding with id 'bnd_nope'"):
        await container.access.unbind(CLI, "bnd_nope")
    with pytest.raises(NotFound):
        await container.access.unbind(CLI, "\x00")
