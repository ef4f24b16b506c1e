"""``authgate api``, ``role``, ``group``, ``bind``, ``unbind`` and ``check`` (spec §1, §2).

Every command calls the access service (``container.access``) or the decision engine
(``container.engine``), as the admin API does; each write is one transaction there, so a
refused command leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from authgate.apis.models import JWT
from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, run
from authgate.container import Container
from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.models import Binding, Group, Role
from authgate.rbac.permissions import check_permission
from authgate.rbac.service import MAX_PAGE, check_scope

T = TypeVar("T")

api_app = typer.Typer(help="Register protected APIs (resource servers).", no_args_is_help=True)
role_app = typer.Typer(help="Create and manage roles.", no_args_is_help=True)
group_app = typer.Typer(help="Create and manage groups of users.", no_args_is_help=True)

PermissionOption = Annotated[
    list[str] | None,
    typer.Option("--permission", help="A permission resource:action; repeatable."),
]
InheritsOption = Annotated[
    list[str] | None,
    typer.Option("--inherits", help="A role whose permissions it inherits; repeatable."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _one_line(message: str) -> str:
    """The CEL compiler marks the error with a source excerpt and a caret on lines of
    their own; the position is already in the message, so those lines go."""
    lines = [line.strip() for line in message.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("|"))


async def _all(
    page: Callable[[str | None, int], Awaitable[list[T]]], key: Callable[[T], str]
) -> list[T]:
    found: list[T] = []
    after = None
    while True:
        batch = await page(after, MAX_PAGE)
        found += batch
        if len(batch) < MAX_PAGE:
            return found
        after = key(batch[-1])


# -- APIs ----------------------------------------------------------------------------------


@api_app.command("create")
def create_api(
    audience: Annotated[
        str, typer.Option("--audience", help="The API's identifier, an absolute URI.")
    ],
    name: Annotated[str, typer.Option("--name", help="A name people recognise.")],
    permission: PermissionOption = None,
    token_format: Annotated[
        str, typer.Option("--token-format", help="jwt (default) or opaque access tokens.")
    ] = JWT,
    as_json: JsonOption = False,
) -> None:
    """Register an API and the permissions it understands."""

    async def work(c: Container) -> None:
        api = await c.apis.create(
            CLI_CONTEXT,
            audience=audience,
            name=name,
            permissions=permission or [],
            token_format=token_format,
        )
        emit(as_json, api.to_json(), f"created API {api.name} ({api.audience})")

    run(work)


# -- roles ---------------------------------------------------------------------------------


def _role_line(role: Role) -> str:
    inherits = f"\tinherits {', '.join(role.inherits)}" if role.inherits else ""
    return f"{role.name}\t{' '.join(role.permissions) or '-'}{inherits}"


@role_app.command("create")
def create_role(
    name: str,
    permission: PermissionOption = None,
    inherits: InheritsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a role holding permissions, optionally inheriting other roles'."""

    async def work(c: Container) -> None:
        role = await c.access.create_role(CLI_CONTEXT, name, permission or [], inherits or [])
        emit(as_json, role.to_json(), f"created role {_role_line(role)}")

    run(work)


@role_app.command("update")
def update_role(
    name: str,
    permission: PermissionOption = None,
    inherits: InheritsOption = None,
    no_permissions: Annotated[
        bool, typer.Option("--no-permissions", help="Hold no permissions of its own.")
    ] = False,
    no_inherits: Annotated[
        bool, typer.Option("--no-inherits", help="Inherit no other role.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a role: only what is given (each list given replaces the whole list)."""
    if permission and no_permissions:
        fail("give --permission or --no-permissions, not both")
    if inherits and no_inherits:
        fail("give --inherits or --no-inherits, not both")
    permissions = [] if no_permissions else permission or None
    parents = [] if no_inherits else inherits or None
    if permissions is None and parents is None:
        fail("nothing to change: give --permission, --inherits, --no-permissions or --no-inherits")

    async def work(c: Container) -> None:
        role = await c.access.update_role(
            CLI_CONTEXT, name, permissions=permissions, inherits=parents
        )
        emit(as_json, role.to_json(), f"updated role {_role_line(role)}")

    run(work)


@role_app.command("delete")
def delete_role(name: str) -> None:
    """Delete a role with its bindings; roles inheriting it stop inheriting it."""

    async def work(c: Container) -> None:
        await c.access.delete_role(CLI_CONTEXT, name)
        typer.echo(f"deleted role {name}")

    run(work)


@role_app.command("list")
def list_roles(as_json: JsonOption = False) -> None:
    """List roles with their own permissions and the roles they inherit."""

    async def work(c: Container) -> None:
        roles = await _all(c.access.list_roles, lambda r: r.name)
        text = "\n".join(_role_line(r) for r in roles) or "no roles"
        emit(as_json, {"roles": [r.to_json() for r in roles]}, text)

    run(work)


@role_app.command("show")
def show_role(name: str, as_json: JsonOption = False) -> None:
    """Show a role and its effective permissions (its own and every inherited role's)."""

    async def work(c: Container) -> None:
        role = await c.access.get_role(name)
        index = await c.engine.index()
        effective = sorted(index.permissions.get(role.name, frozenset(role.permissions)))
        data = {**role.to_json(), "effective_permissions": effective}
        text = (
            f"role {role.name}\n"
            f"permissions: {' '.join(role.permissions) or '-'}\n"
            f"inherits: {', '.join(role.inherits) or '-'}\n"
            f"effective permissions: {' '.join(effective) or '-'}"
        )
        emit(as_json, data, text)

    run(work)


# -- groups --------------------------------------------------------------------------------


async def _group_data(c: Container, group: Group) -> tuple[dict[str, Any], str]:
    """The group as JSON (members are user ids) and as text (with usernames)."""
    users = (await c.engine.index()).users
    names = [f"{users[m].username} ({m})" if m in users else m for m in group.members]
    text = f"group {group.name}"
    if group.description:
        text += f": {group.description}"
    text += "\nmembers: " + (", ".join(names) or "-")
    return group.to_json(), text


@group_app.command("create")
def create_group(
    name: str,
    member: Annotated[
        list[str] | None, typer.Option("--member", help="A username or user id; repeatable.")
    ] = None,
    description: Annotated[str, typer.Option("--description", help="What the group is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a group of users; what is bound to it is granted to its members."""

    async def work(c: Container) -> None:
        group = await c.access.create_group(CLI_CONTEXT, name, member or [], description)
        data, text = await _group_data(c, group)
        emit(as_json, data, "created " + text)

    run(work)


@group_app.command("add-member")
def add_member(group: str, username: str) -> None:
    """Add a user (username or id) to a group."""

    async def work(c: Container) -> None:
        added = await c.access.add_member(CLI_CONTEXT, group, username)
        typer.echo(f"added {username} to {group}" if added else f"{username} is already in {group}")

    run(work)


@group_app.command("remove-member")
def remove_member(group: str, username: str) -> None:
    """Remove a user (username or id) from a group."""

    async def work(c: Container) -> None:
        removed = await c.access.remove_member(CLI_CONTEXT, group, username)
        typer.echo(
            f"removed {username} from {group}" if removed else f"{username} is not in {group}"
        )

    run(work)


@group_app.command("delete")
def delete_group(name: str) -> None:
    """Delete a group with its bindings; its members lose what it granted them."""

    async def work(c: Container) -> None:
        await c.access.delete_group(CLI_CONTEXT, name)
        typer.echo(f"deleted group {name}")

    run(work)


def _members(group: Group) -> str:
    count = len(group.members)
    return f"{count} member" + ("" if count == 1 else "s")


@group_app.command("list")
def list_groups(as_json: JsonOption = False) -> None:
    """List groups."""

    async def work(c: Container) -> None:
        groups = await _all(c.access.list_groups, lambda g: g.name)
        text = "\n".join(f"{g.name}\t{_members(g)}\t{g.description}".rstrip() for g in groups)
        emit(as_json, {"groups": [g.to_json() for g in groups]}, text or "no groups")

    run(work)


@group_app.command("show")
def show_group(name: str, as_json: JsonOption = False) -> None:
    """Show a group and its members."""

    async def work(c: Container) -> None:
        data, text = await _group_data(c, await c.access.get_group(name))
        emit(as_json, data, text)

    run(work)


# -- bindings ------------------------------------------------------------------------------


def _binding_text(binding: Binding) -> str:
    when = f" when {binding.condition}" if binding.condition else ""
    return f"bound {binding.member} to role {binding.role} on {binding.scope}{when} ({binding.id})"


def bind(
    role: str,
    user: Annotated[str | None, typer.Option("--user", help="A username or user id.")] = None,
    client: Annotated[str | None, typer.Option("--client", help="A client id.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="A group name.")] = None,
    scope: Annotated[
        str, typer.Option("--scope", help="Resource path: / or e.g. org:acme/project:42.")
    ] = "/",
    condition: Annotated[
        str | None,
        typer.Option(
            "--condition",
            help="A CEL expression over subject, resource, action and context, e.g. "
            "'resource.properties.owner == subject.id'.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a user, client or group a role on a scope, optionally under a condition."""
    members = [
        f"{kind}:{value}"
        for kind, value in (("user", user), ("client", client), ("group", group))
        if value is not None
    ]
    if len(members) != 1:
        fail("give exactly one of --user, --client or --group")

    async def work(c: Container) -> None:
        try:
            binding = await c.access.bind(CLI_CONTEXT, role, members[0], scope, condition)
        except InvalidInput as exc:
            raise InvalidInput(_one_line(exc.message)) from None
        emit(as_json, binding.to_json(), _binding_text(binding))

    run(work)


def unbind(binding_id: str) -> None:
    """Remove a binding."""

    async def work(c: Container) -> None:
        await c.access.unbind(CLI_CONTEXT, binding_id)
        typer.echo(f"removed binding {binding_id}")

    run(work)


# -- decisions -----------------------------------------------------------------------------


def _json_object(option: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{option} is not JSON ({exc})")
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object")
    return value


def _resource(path: str, properties: dict[str, Any]) -> dict[str, Any]:
    """What conditions see as ``resource``: the last segment's type and id (AuthZEN
    style), the path, and the properties given."""
    resource: dict[str, Any] = {"properties": {**properties, "path": path}}
    if path != "/":
        kind, _, ident = path.rpartition("/")[2].partition(":")
        resource.update(type=kind, id=ident)
    return resource


def check(
    subject: Annotated[str, typer.Argument(help="user:<username or id> or client:<client_id>.")],
    permission: Annotated[str, typer.Argument(help="A permission resource:action.")],
    resource: Annotated[
        str, typer.Option("--resource", help="Resource path: / or e.g. org:acme/project:42.")
    ] = "/",
    context: Annotated[
        str | None, typer.Option("--context", help="A JSON object conditions see as context.")
    ] = None,
    resource_properties: Annotated[
        str | None,
        typer.Option(
            "--resource-properties",
            help="A JSON object conditions see as resource.properties.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask whether a subject holds a permission on a resource, and why (exit 0 for allow
    and deny; a subject that does not exist is an error, so a typo never reads as "no")."""
    kind, _, name = subject.partition(":")
    if kind not in {"user", "client"} or not name:
        fail(f"subject {subject!r} must be user:<username or id> or client:<client_id>")
    try:
        check_permission(permission)
    except AuthGateError as exc:
        fail(exc.message)
    try:
        path = check_scope(resource)
    except AuthGateError as exc:
        fail(f"--resource: {exc.message}")
    seen_context = _json_object("--context", context)
    seen_resource = _resource(path, _json_object("--resource-properties", resource_properties))

    async def work(c: Container) -> None:
        subject_id = name
        if kind == "user":
            found = await c.users.get_by_id(name)
            if found is None:
                try:
                    found = await c.users.get(name)
                except (InvalidInput, NotFound):
                    raise NotFound(f"no user named {name!r} (nor with that id)") from None
            subject_id = found.id
        elif await c.clients.get(name) is None:
            raise NotFound(f"no client with id {name!r}")
        decision = await c.engine.check(
            kind,
            subject_id,
            permission,
            path,
            subject={"type": kind, "id": subject_id},
            resource=seen_resource,
            action={"name": permission},
            context=seen_context,
        )
        emit(as_json, decision.to_json(), decision.reason)

    run(work)
