"""``authgate apikey create|revoke|list|show`` (spec §2, §5): the same service the admin
API calls."""

from __future__ import annotations

from typing import Annotated

import typer

from authgate.apikeys.models import ApiKey
from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, run
from authgate.container import Container
from authgate.durations import parse_duration
from authgate.errors import InvalidInput

app = typer.Typer(help="Make and revoke API keys.", no_args_is_help=True)

UserOption = Annotated[str | None, typer.Option("--user", help="Owned by this user (username).")]
ClientOption = Annotated[str | None, typer.Option("--client", help="Owned by this client.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


async def _owner(c: Container, user: str | None, client: str | None) -> str:
    if user is not None:
        return f"user:{(await c.users.get(user)).id}"
    assert client is not None
    return f"client:{client}"


def _line(key: ApiKey) -> str:
    state = "revoked" if key.revoked_at else "active"
    expires = key.expires_at.isoformat() if key.expires_at else "never"
    perms = " ".join(key.permissions) or "(all the owner holds)"
    return f"{key.id}\t{key.owner}\t{state}\texpires {expires}\t{perms}\t{key.name}"


def _one_owner(user: str | None, client: str | None, *, required: bool) -> None:
    if user is not None and client is not None:
        fail("give --user or --client, not both")
    if required and user is None and client is None:
        fail("say who owns the key: --user NAME or --client CLIENT_ID")


@app.command("create")
def create(
    user: UserOption = None,
    client: ClientOption = None,
    permission: Annotated[
        list[str] | None,
        typer.Option(
            "--permission",
            help="A permission the key may use (repeatable); none: all the owner holds.",
        ),
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime such as 30d; default none.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    allow_network: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-network", help="Accept the key only from this CIDR block (repeatable)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key. The key is printed once and never again."""
    _one_owner(user, client, required=True)
    try:
        lifetime = parse_duration(expires_in) if expires_in is not None else None
    except (InvalidInput, ValueError) as exc:
        fail(f"--expires-in: {exc}")

    async def work(c: Container) -> None:
        created = await c.api_keys.create(
            CLI_CONTEXT,
            await _owner(c, user, client),
            name=name,
            permissions=permission or [],
            expires_in=lifetime,
            allowed_networks=allow_network or [],
        )
        emit(
            as_json,
            created.to_json(),
            f"created API key {created.api_key.id} for {created.api_key.owner}\n"
            f"{created.key}\n(shown once: store it now)",
        )

    run(work)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Revoke an API key: refused at once by this server, everywhere within 2 s."""

    async def work(c: Container) -> None:
        key = await c.api_keys.revoke(CLI_CONTEXT, key_id)
        typer.echo(f"revoked API key {key.id} of {key.owner}")

    run(work)


@app.command("list")
def list_keys(
    user: UserOption = None, client: ClientOption = None, as_json: JsonOption = False
) -> None:
    """List API keys (never their secrets), optionally one owner's."""
    _one_owner(user, client, required=False)

    async def work(c: Container) -> None:
        owner = await _owner(c, user, client) if user or client else None
        found: list[ApiKey] = []
        after = None
        while True:
            batch = await c.api_keys.list(owner, after=after, limit=500)
            found += batch
            if len(batch) < 500:
                break
            after = batch[-1].id
        if as_json:
            emit(True, {"api_keys": [k.to_json() for k in found]}, "")
        else:
            typer.echo("\n".join(_line(k) for k in found) or "no API keys")

    run(work)


@app.command("show")
def show(key_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOption = False) -> None:
    """Show one API key (never its secret)."""

    async def work(c: Container) -> None:
        key = await c.api_keys.get(key_id)
        emit(as_json, key.to_json(), _line(key))

    run(work)
