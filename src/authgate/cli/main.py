"""The ``authgate`` command (spec §2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from authgate import __version__
from authgate.cli import access, apikeys, clients, ops, setup, users
from authgate.cli.common import state

app = typer.Typer(
    name="authgate",
    help="AuthGate: a self-hosted API authorization server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"authgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", envvar="AUTHGATE_DATA_DIR", help="Data directory (default ./.authgate)."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state.data_dir = data_dir


app.command()(setup.init)
app.command()(setup.migrate)
app.command()(ops.serve)
app.add_typer(users.app, name="user")
app.add_typer(clients.app, name="client")
app.add_typer(access.api_app, name="api")
app.add_typer(access.role_app, name="role")
app.add_typer(access.group_app, name="group")
app.command()(access.bind)
app.command()(access.unbind)
app.command()(access.check)
app.add_typer(apikeys.app, name="apikey")
app.add_typer(ops.keys_app, name="keys")
app.add_typer(ops.audit_app, name="audit")


def main() -> None:
    app()
