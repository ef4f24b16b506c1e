"""What every command shares: settings, the container, error reporting, JSON output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from authgate.container import Container
from authgate.errors import AuthGateError, StorageUnavailable
from authgate.settings import Settings, load_settings
from authgate.storage.db import redact
from authgate.storage.migrate import require_current

T = TypeVar("T")


class CliState:
    data_dir: Path | None = None


state = CliState()


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings(data_dir=state.data_dir)
    except AuthGateError as exc:
        fail(exc.message)


def run(
    work: Callable[[Container], Awaitable[T]], *, create: bool = False, check_schema: bool = True
) -> T:
    """Build the container, run ``work`` in an event loop, close everything, and turn
    expected failures into a one-line message and a non-zero exit."""
    config = settings()

    async def main() -> T:
        container = Container.build(config, create_master_key=create)
        try:
            if check_schema:
                await require_current(container.db)
                await container.keys.infos()  # fails now if the master key is the wrong one
            return await work(container)
        finally:
            await container.close()

    return run_async(main(), config)


def run_async(coro: Coroutine[Any, Any, T], config: Settings) -> T:
    try:
        return asyncio.run(coro)
    except StorageUnavailable as exc:
        cause = exc.__cause__
        reason = f" ({type(cause).__name__}: {cause})" if cause else ""
        fail(f"cannot reach the database {redact(config.effective_database_url)}{reason}")
    except AuthGateError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        typer.echo(text)


def read_stdin_secret(what: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(f"no {what} on standard input")
    return value
