"""``authgate init`` and ``authgate migrate``."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.accounts.passwords import PasswordPolicy
from authgate.accounts.usernames import username_key
from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, read_stdin_secret, run, settings
from authgate.container import Container
from authgate.errors import Conflict, InvalidInput
from authgate.rbac.permissions import EVERYTHING
from authgate.rbac.service import ADMIN_ROLE
from authgate.settings import CONFIG_FILE_NAME
from authgate.storage import migrate as migrations

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # shown in the README; only created by `init --demo`

CONFIG_TEMPLATE = """\
# AuthGate configuration. Environment variables (AUTHGATE_*) override these values.
# Every setting and its default: docs/configuration.md

# issuer = "http://127.0.0.1:8080"
# access_token_ttl = "15m"
# refresh_token_ttl = "30d"
# session_ttl = "12h"

[rate_limits]
# enabled = true
# login_failures_per_account = 5
# login_failures_per_ip = 20
# lockout_base = "2s"
# lockout_max = "15m"

# Forward auth for reverse proxies (docs/forward-auth.md). The first matching rule decides.
# [forward_auth]
# cache_ttl = "5s"
# [[forward_auth.routes]]
# path = "/orders/{order_id}"
# methods = ["GET"]
# permission = "orders:read"
# resource = "order:{order_id}"
"""

DEMO_ROUTES = """
# Demo rules (authgate init --demo): try them with an API key from /account, e.g.
#   curl -i http://127.0.0.1:8080/forward-auth -H "X-API-Key: $KEY" \\
#        -H "X-Original-Method: GET" -H "X-Original-URI: /orders/42"
[[forward_auth.routes]]
path = "/health"
public = true

[[forward_auth.routes]]
path = "/orders"
methods = ["GET", "HEAD"]
permission = "orders:read"

[[forward_auth.routes]]
path = "/orders/{order_id}"
methods = ["GET", "HEAD"]
permission = "orders:read"
resource = "order:{order_id}"

[[forward_auth.routes]]
path = "/orders"
methods = ["POST"]
permission = "orders:write"
"""
DEMO_API = "https://orders.example.com"
DEMO_ROLE = "demo-orders-clerk"


def _write_config(data_dir: Path, demo: bool) -> bool:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG_FILE_NAME
    if path.exists():
        return False
    path.write_text(CONFIG_TEMPLATE + (DEMO_ROUTES if demo else ""))
    return True


def init(
    admin_username: Annotated[
        str, typer.Option(help="Name of the administrator account.")
    ] = "admin",
    admin_password_stdin: Annotated[
        bool,
        typer.Option(
            "--admin-password-stdin", help="Read the administrator's password from standard input."
        ),
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help=f"Also create the demo user {DEMO_USERNAME!r}.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create (or complete) the data directory, schema, signing keys and admin user.

    Safe to run again: whatever exists already is kept.
    """
    config = settings()
    report: dict[str, Any] = {"data_dir": str(config.data_dir)}
    lines: list[str] = []
    password = read_stdin_secret("password") if admin_password_stdin else None
    try:  # refuse bad input before anything is written
        username_key(admin_username)
        if password is not None:
            PasswordPolicy(config.passwords).check(password, admin_username)
    except InvalidInput as exc:
        fail(exc.message)
    if _write_config(config.data_dir, demo):
        lines.append(f"wrote {config.data_dir / CONFIG_FILE_NAME}")
    generated = secrets.token_urlsafe(max(18, config.passwords.min_length))

    async def work(c: Container) -> None:
        before, after = await migrations.upgrade(c.db)
        report["schema_revision"] = after
        lines.append(
            f"database schema at revision {after}"
            + ("" if before == after else f" (was {before or 'empty'})")
        )
        created = await c.keys.ensure_initial(CLI_CONTEXT)
        report["signing_keys_created"] = created
        if created:
            lines.append(f"created {len(created)} signing keys")
        try:
            await c.users.create(admin_username, CLI_CONTEXT, password=password or generated)
        except Conflict:
            report["admin"] = {"username": admin_username, "created": False}
            lines.append(f"admin user {admin_username!r} exists already")
        else:
            report["admin"] = {"username": admin_username, "created": True}
            if password is None:
                report["admin"]["password"] = generated
            shown = "" if password else f" with password {generated} (shown once)"
            lines.append(f"created admin user {admin_username!r}{shown}")
        if await _ensure_admin_role(c, admin_username):
            lines.append(f"bound {admin_username!r} to role {ADMIN_ROLE!r} on /")
        if demo:
            try:
                await c.users.create(
                    DEMO_USERNAME,
                    CLI_CONTEXT,
                    password=DEMO_PASSWORD,
                    email="demo@example.com",
                    attributes={"department": "engineering"},
                )
                lines.append(f"created demo user {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r}")
                report["demo_user"] = DEMO_USERNAME
            except Conflict:
                report["demo_user"] = DEMO_USERNAME
            if await _demo_orders(c):
                lines.append(
                    f"created the demo API {DEMO_API} and bound {DEMO_USERNAME!r} to "
                    f"{DEMO_ROLE!r} (orders:read, orders:write)"
                )

    run(work, create=True, check_schema=False)
    emit(as_json, report, "\n".join(lines))


async def _demo_orders(c: Container) -> bool:
    """Something to protect: an orders API whose permissions the demo user holds, so an
    API key made on /account passes the demo forward-auth rules. True when made now."""
    try:
        await c.apis.create(
            CLI_CONTEXT,
            audience=DEMO_API,
            name="Orders (demo)",
            permissions=["orders:read", "orders:write"],
        )
        await c.access.create_role(CLI_CONTEXT, DEMO_ROLE, ["orders:read", "orders:write"])
        await c.access.bind(CLI_CONTEXT, DEMO_ROLE, f"user:{DEMO_USERNAME}", "/")
    except Conflict:
        return False
    return True


async def _ensure_admin_role(c: Container, admin_username: str) -> bool:
    """Spec §2: the admin user holds the built-in ``authgate-admin`` role (every
    permission) at ``/``. True when this run made the binding."""
    with contextlib.suppress(Conflict):
        await c.access.create_role(CLI_CONTEXT, ADMIN_ROLE, [EVERYTHING])
    try:
        await c.access.bind(CLI_CONTEXT, ADMIN_ROLE, f"user:{admin_username}", "/")
    except Conflict:
        return False
    return True


def migrate() -> None:
    """Apply pending database migrations."""

    async def work(c: Container) -> None:
        before, after = await migrations.upgrade(c.db)
        if before == after:
            typer.echo(f"database schema already at revision {after}")
        else:
            typer.echo(f"database schema migrated from {before or 'empty'} to {after}")

    run(work, check_schema=False)
