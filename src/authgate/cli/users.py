"""``authgate user …`` (spec §2)."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.accounts.users import parse_attr_pairs
from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, read_stdin_secret, run
from authgate.container import Container
from authgate.errors import InvalidInput, NotFound

app = typer.Typer(help="Create and manage users.", no_args_is_help=True)
mfa_app = typer.Typer(help="Second factors.", no_args_is_help=True)
app.add_typer(mfa_app, name="mfa")

AttrOption = Annotated[list[str] | None, typer.Option("--attr", help="KEY=VALUE; repeatable.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@app.command()
def create(
    username: str,
    user_id: Annotated[str | None, typer.Option("--id", help="A caller-chosen stable id.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    attr: AttrOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    scope: Annotated[
        str,
        typer.Option(
            "--scope", help="The resource path it lives under, e.g. org:acme (its admins' scope)."
        ),
    ] = "/",
    as_json: JsonOption = False,
) -> None:
    """Create a user."""
    password = read_stdin_secret("password") if password_stdin else None

    async def work(c: Container) -> None:
        user = await c.users.create(
            username,
            CLI_CONTEXT,
            password=password,
            user_id=user_id,
            email=email,
            attributes=parse_attr_pairs(attr or []),
            scope=scope,
        )
        emit(as_json, user.to_json(), f"created user {user.username} (id {user.id})")

    run(work)


@app.command()
def update(
    username: str,
    email: Annotated[str | None, typer.Option(help="New e-mail address.")] = None,
    attr: AttrOption = None,
    unset_attr: Annotated[
        list[str] | None, typer.Option("--unset-attr", help="Remove an attribute; repeatable.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a new password from standard input.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a user's e-mail, attributes or password (only what is given)."""
    password = read_stdin_secret("password") if password_stdin else None

    async def work(c: Container) -> None:
        user = await c.users.update(
            username,
            CLI_CONTEXT,
            email=email,
            set_attributes=parse_attr_pairs(attr or []),
            unset_attributes=unset_attr or [],
            password=password,
        )
        emit(as_json, user.to_json(), f"updated user {user.username}")

    run(work)


@app.command()
def disable(username: str) -> None:
    """Disable a user and end their sessions at once."""

    async def work(c: Container) -> None:
        user = await c.users.set_disabled(username, True, CLI_CONTEXT)
        typer.echo(f"disabled user {user.username}; their sessions have ended")

    run(work)


@app.command()
def enable(username: str) -> None:
    """Enable a disabled user."""

    async def work(c: Container) -> None:
        user = await c.users.set_disabled(username, False, CLI_CONTEXT)
        typer.echo(f"enabled user {user.username}")

    run(work)


@app.command()
def delete(username: str) -> None:
    """Delete a user, their sessions and factors."""

    async def work(c: Container) -> None:
        await c.users.delete(username, CLI_CONTEXT)
        typer.echo(f"deleted user {username}")

    run(work)


@app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """List users."""

    async def work(c: Container) -> None:
        users = await c.users.list()
        if as_json:
            emit(True, {"users": [u.to_json() for u in users]}, "")
        for user in [] if as_json else users:
            flags = " (disabled)" if user.disabled else ""
            typer.echo(f"{user.username}\t{user.id}\t{user.email or '-'}{flags}")

    run(work)


@mfa_app.command()
def enroll(username: str, as_json: JsonOption = False) -> None:
    """Enrol a TOTP factor (active at once) and print its secret and recovery codes."""

    async def work(c: Container) -> None:
        try:
            user = await c.users.get(username)
        except InvalidInput as exc:
            raise NotFound(f"no user named {username!r}") from exc
        enrolment = await c.mfa.activate(user.id, c.mfa.new_secret(), CLI_CONTEXT)
        data = {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.otpauth_uri,
            "recovery_codes": enrolment.recovery_codes,
        }
        text = (
            f"secret: {enrolment.secret}\nuri: {enrolment.otpauth_uri}\nrecovery codes:\n  "
            + "\n  ".join(enrolment.recovery_codes)
        )
        emit(as_json, data, text)

    run(work)
