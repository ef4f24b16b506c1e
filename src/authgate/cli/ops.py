"""``authgate keys …``, ``authgate audit …`` and ``authgate serve``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer

from authgate.audit.events import CLI_CONTEXT
from authgate.audit.log import AuditFilter, event_json, parse_instant
from authgate.cli.common import emit, fail, run, run_async, settings, state
from authgate.container import Container
from authgate.errors import AuthGateError
from authgate.rbac.service import check_scope
from authgate.storage.db import redact
from authgate.storage.migrate import require_current

keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@keys_app.command()
def rotate(
    immediate: Annotated[
        bool, typer.Option(help="Sign with the new keys at once (after a compromise).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Publish new signing keys; they sign after the propagation delay."""

    async def work(c: Container) -> None:
        infos = await c.keys.rotate(CLI_CONTEXT, immediate=immediate)
        text = "\n".join(
            f"{i.alg}: new key {i.kid}, signs from {i.activates_at.isoformat()}" for i in infos
        )
        data = {
            "keys": [
                {"kid": i.kid, "alg": i.alg, "activates_at": i.activates_at.isoformat()}
                for i in infos
            ]
        }
        emit(
            as_json,
            data,
            text + "\nprevious keys stay published until every token they signed has expired",
        )

    run(work)


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List signing keys and their state."""

    async def work(c: Container) -> None:
        now = c.clock.now()
        infos = await c.keys.infos()
        rows = [
            {
                "kid": i.kid,
                "alg": i.alg,
                "state": i.state(now),
                "published": i.published(now),
                "activates_at": i.activates_at.isoformat(),
                "publish_until": i.publish_until.isoformat() if i.publish_until else None,
            }
            for i in infos
        ]
        text = "\n".join(
            f"{r['alg']}\t{r['kid']}\t{r['state']}\tpublished={r['published']}" for r in rows
        )
        emit(as_json, {"keys": rows}, text)

    run(work)


@audit_app.command()
def verify() -> None:
    """Check the audit log's hash chain; names every altered or missing event."""

    async def work(c: Container) -> bool:
        result = await c.audit.verify()
        if result.ok:
            typer.echo(f"audit log intact: {result.events} events, chain verified")
        else:
            for problem in result.problems:
                typer.echo(f"TAMPERED: {problem}", err=True)
        return result.ok

    if not run(work):
        raise typer.Exit(1)


@audit_app.command()
def export(
    since: Annotated[
        str | None, typer.Option(help="RFC 3339 date-time: events at or after it.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="RFC 3339 date-time: events before it.")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only this actor (cli, user:<id>, ...).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only these tags (repeat the option).")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            help="Only events about objects administered at this scope or below it "
            "(org:acme reaches org:acme/team:a, not org:acme-two)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print audit events as JSON lines, oldest first (the admin API's export format)."""
    try:
        where = AuditFilter(
            since=None if since is None else parse_instant(since, "--since"),
            until=None if until is None else parse_instant(until, "--until"),
            actor=actor,
            subject=subject,
            tags=tuple(tag or ()),
            scope=None if scope is None else check_scope(scope),
        )
    except AuthGateError as exc:
        fail(exc.message)

    async def work(c: Container) -> int:
        count = 0
        with _open(output) as sink:
            async for row in c.audit.export(where):
                sink.write(json.dumps(event_json(row), sort_keys=True) + "\n")
                count += 1
        return count

    count = run(work)
    if output is not None:
        typer.echo(f"{count} events written to {output}", err=True)


@contextmanager
def _open(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    with handle:
        yield handle


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the server (refuses an unreachable or unmigrated database)."""
    config = settings()

    async def preflight() -> None:
        container = Container.build(config)
        try:
            await require_current(container.db)
            if not await container.keys.ready():
                fail("no signing keys: run `authgate init`")
            if container.redis is not None:
                try:
                    await container.redis.ping()
                except Exception as exc:
                    fail(f"cannot reach Redis at {redact(config.redis_url or '')}: {exc}")
        finally:
            await container.close()

    run_async(preflight(), config)
    if state.data_dir is not None:  # the workers build their settings from the environment
        os.environ["AUTHGATE_DATA_DIR"] = str(state.data_dir)
    typer.echo(
        f"AuthGate serving {config.issuer} on http://{host}:{port} "
        f"(database {redact(config.effective_database_url)})",
        err=True,
    )
    import uvicorn  # imported here: every other command starts faster without it

    uvicorn.run(
        "authgate.web.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=config.trusted_proxies,
        lifespan="on",
    )
