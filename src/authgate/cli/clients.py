"""``authgate client …`` (spec §2)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from authgate.audit.events import CLI_CONTEXT
from authgate.cli.common import emit, fail, run
from authgate.clients.models import SECRET_METHODS, Client
from authgate.container import Container
from authgate.durations import parse_duration

app = typer.Typer(help="Register and manage OAuth clients.", no_args_is_help=True)

GrantOption = Annotated[
    list[str] | None,
    typer.Option("--grant-type", help="An RFC grant type name; repeatable."),
]
ScopeOption = Annotated[
    str | None, typer.Option("--scope", help='Scopes it may request, space-separated: "a b".')
]
RedirectOption = Annotated[
    list[str] | None, typer.Option("--redirect-uri", help="A redirect URI; repeatable.")
]
LogoutOption = Annotated[
    list[str] | None,
    typer.Option("--post-logout-redirect-uri", help="Where to go after logout; repeatable."),
]
AuthMethodOption = Annotated[
    str | None,
    typer.Option(
        "--auth-method",
        help="client_secret_basic (default), client_secret_post, private_key_jwt or none.",
    ),
]
JwksOption = Annotated[
    Path | None, typer.Option("--jwks", help="A JSON file holding the client's public JWK Set.")
]
JwksUriOption = Annotated[
    str | None, typer.Option("--jwks-uri", help="An https URL serving the client's JWK Set.")
]
AudienceOption = Annotated[
    list[str] | None,
    typer.Option("--audience", help="An API it may ask tokens for; repeatable, first is default."),
]
AccessTtlOption = Annotated[
    str | None, typer.Option("--access-token-ttl", help="Access token lifetime, e.g. 15m.")
]
RefreshTtlOption = Annotated[
    str | None, typer.Option("--refresh-token-ttl", help="Refresh token lifetime, e.g. 30d.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
_ZERO = re.compile(r"^\s*0+\s*[smhd]?\s*$")


def _read_jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path} is not a JSON file ({exc})")
    if not isinstance(data, dict):
        fail(f'{path} must hold a JWK Set: an object with a "keys" array')
    return data


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="A name people recognise.")],
    grant_type: GrantOption = None,
    scope: ScopeOption = None,
    redirect_uri: RedirectOption = None,
    post_logout_redirect_uri: LogoutOption = None,
    public: Annotated[
        bool, typer.Option("--public", help="A public client (SPA, mobile, CLI): no secret.")
    ] = False,
    auth_method: AuthMethodOption = None,
    jwks: JwksOption = None,
    jwks_uri: JwksUriOption = None,
    audience: AudienceOption = None,
    first_party: Annotated[
        bool, typer.Option("--first-party", help="One of your own apps: no consent page.")
    ] = False,
    access_token_ttl: AccessTtlOption = None,
    refresh_token_ttl: RefreshTtlOption = None,
    admin_scope: Annotated[
        str,
        typer.Option(
            "--admin-scope",
            help="The resource path it lives under, e.g. org:acme (its admins' scope; "
            "--scope is what it may request).",
        ),
    ] = "/",
    as_json: JsonOption = False,
) -> None:
    """Register a client and print its id and (once) its secret."""
    key_set = _read_jwks(jwks)

    async def work(c: Container) -> None:
        client, secret = await c.clients.create(
            CLI_CONTEXT,
            name=name,
            grant_types=grant_type or None,
            scopes=scope or "",
            redirect_uris=redirect_uri or (),
            post_logout_redirect_uris=post_logout_redirect_uri or (),
            public=public,
            auth_method=auth_method,
            jwks=key_set,
            jwks_uri=jwks_uri,
            audiences=audience or (),
            first_party=first_party,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            scope=admin_scope,
        )
        data = client.to_json()
        text = f"created client {client.name}\nclient_id: {client.client_id}"
        if secret is not None:
            data["client_secret"] = secret
            text += f"\nclient_secret: {secret}\n(the secret is shown only now: store it)"
        emit(as_json, data, text)

    run(work)


@app.command()
def update(
    client_id: str,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    grant_type: GrantOption = None,
    scope: ScopeOption = None,
    redirect_uri: RedirectOption = None,
    post_logout_redirect_uri: LogoutOption = None,
    public: Annotated[
        bool | None,
        typer.Option("--public/--confidential", help="Cannot change; accepted for symmetry."),
    ] = None,
    auth_method: AuthMethodOption = None,
    jwks: JwksOption = None,
    jwks_uri: JwksUriOption = None,
    audience: AudienceOption = None,
    first_party: Annotated[
        bool | None, typer.Option("--first-party/--third-party", help="Skip consent or not.")
    ] = None,
    access_token_ttl: AccessTtlOption = None,
    refresh_token_ttl: RefreshTtlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a client: only the options given (a list option replaces the whole list)."""
    changes = _given(
        name=name,
        grant_types=grant_type or None,
        scopes=scope,
        redirect_uris=redirect_uri or None,
        post_logout_redirect_uris=post_logout_redirect_uri or None,
        public=public,
        auth_method=auth_method,
        jwks=_read_jwks(jwks),
        jwks_uri=jwks_uri,
        audiences=audience or None,
        first_party=first_party,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
    )

    async def work(c: Container) -> None:
        before = await c.clients.get(client_id)
        client = await c.clients.update(client_id, CLI_CONTEXT, **changes)
        emit(as_json, client.to_json(), f"updated client {client.client_id} ({client.name})")
        if (
            before is not None
            and before.auth_method not in SECRET_METHODS
            and client.auth_method in SECRET_METHODS
        ):
            typer.echo(
                f"note: the client has no secret yet: run "
                f"`authgate client rotate-secret {client.client_id} --json`",
                err=True,
            )

    run(work)


@app.command()
def disable(client_id: str) -> None:
    """Disable a client and revoke its grants and tokens at once."""

    async def work(c: Container) -> None:
        client = await c.clients.set_disabled(client_id, True, CLI_CONTEXT)
        typer.echo(f"disabled client {client.client_id}; its tokens have been revoked")

    run(work)


@app.command()
def enable(client_id: str) -> None:
    """Enable a disabled client (revoked tokens stay revoked)."""

    async def work(c: Container) -> None:
        client = await c.clients.set_disabled(client_id, False, CLI_CONTEXT)
        typer.echo(f"enabled client {client.client_id}")

    run(work)


@app.command()
def delete(client_id: str) -> None:
    """Delete a client with its tokens, consents and role bindings."""

    async def work(c: Container) -> None:
        await c.clients.delete(client_id, CLI_CONTEXT)
        typer.echo(f"deleted client {client_id}")

    run(work)


@app.command("rotate-secret")
def rotate_secret(
    client_id: str,
    overlap: Annotated[
        str | None,
        typer.Option("--overlap", help="How long the old secret keeps working (default 0)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a client a new secret, printed once."""
    window = timedelta(0)
    if overlap is not None and not _ZERO.match(overlap):
        try:
            window = parse_duration(overlap)
        except ValueError as exc:
            fail(f"--overlap: {exc}")

    async def work(c: Container) -> None:
        secret = await c.clients.rotate_secret(client_id, CLI_CONTEXT, overlap=window)
        old = f"the old secret works for {overlap}" if window else "the old secret stopped working"
        text = f"client_secret: {secret}\n(shown only now: store it; {old})"
        emit(as_json, {"client_id": client_id, "client_secret": secret}, text)

    run(work)


def _line(client: Client) -> str:
    flags = " (disabled)" if client.disabled else ""
    kind = "public" if client.public else client.auth_method
    return f"{client.client_id}\t{client.name}\t{kind}\t{' '.join(client.grant_types)}{flags}"


@app.command("list")
def list_clients(as_json: JsonOption = False) -> None:
    """List clients."""

    async def work(c: Container) -> None:
        clients = await c.clients.list()
        text = "\n".join(_line(client) for client in clients) or "no clients"
        emit(as_json, {"clients": [client.to_json() for client in clients]}, text)

    run(work)
