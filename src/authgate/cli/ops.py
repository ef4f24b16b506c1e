"""``authgate keys …``, ``authgate audit …`` and ``authgate serve``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, run, run_async, settings, state
from authgate.container import Container
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
