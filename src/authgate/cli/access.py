"""``authgate api create``, ``role create``, ``bind`` and ``unbind`` (spec §2)."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.apis.models import JWT
from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, run
from authgate.container import Container

api_app = typer.Typer(help="Register protected APIs (resource servers).", no_args_is_help=True)
role_app = typer.Typer(help="Create roles.", no_args_is_help=True)

PermissionOption = Annotated[
    list[str] | None,
    typer.Option("--permission", help="A permission resource:action; repeatable."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


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


@role_app.command("create")
def create_role(
    name: str,
    permission: PermissionOption = None,
    inherits: Annotated[
        list[str] | None,
        typer.Option("--inherits", help="A role whose permissions it inherits (not yet)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a role holding permissions."""
    if inherits:
        fail("role inheritance is not supported yet")

    async def work(c: Container) -> None:
        role = await c.access.create_role(CLI_CONTEXT, name, permission or [])
        emit(as_json, role.to_json(), f"created role {role.name}")

    run(work)


def bind(
    role: str,
    user: Annotated[str | None, typer.Option("--user", help="A username or user id.")] = None,
    client: Annotated[str | None, typer.Option("--client", help="A client id.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="A group name.")] = None,
    scope: Annotated[
        str, typer.Option("--scope", help="Resource path: / or e.g. org:acme/project:42.")
    ] = "/",
    condition: Annotated[
        str | None, typer.Option("--condition", help="A CEL expression (not yet).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a user, client or group a role on a scope."""
    members = [
        f"{kind}:{value}"
        for kind, value in (("user", user), ("client", client), ("group", group))
        if value is not None
    ]
    if len(members) != 1:
        fail("give exactly one of --user, --client or --group")

    async def work(c: Container) -> None:
        binding = await c.access.bind(CLI_CONTEXT, role, members[0], scope, condition)
        text = f"bound {binding.member} to role {binding.role} on {binding.scope} ({binding.id})"
        emit(as_json, binding.to_json(), text)

    run(work)


def unbind(binding_id: str) -> None:
    """Remove a binding."""

    async def work(c: Container) -> None:
        await c.access.unbind(CLI_CONTEXT, binding_id)
        typer.echo(f"removed binding {binding_id}")

    run(work)
