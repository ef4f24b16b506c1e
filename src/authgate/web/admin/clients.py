"""``/admin/v1/clients``: OAuth clients, checked at the scope each client lives under.

``authgate:clients.read`` at a client's scope shows it (else 404, as if it did not
exist); ``authgate:clients.write`` there changes it. Creating or moving a client needs
``clients.write`` at the new scope too, so an ``org:acme`` administrator's clients stay
under ``org:acme``. A new secret (or new keys) lets its holder act as the client, so
rotating the secret or changing how the client authenticates also needs every permission
the client holds, where it holds it; so does disabling, enabling or deleting it, so a
scoped administrator cannot lock out a client that holds more than they do. Making a
client first party (it skips consent, and may act for users on AuthGate's own API), or
changing a first-party client in any way, needs ``clients.write`` at ``/``. Secrets
appear once, in the answer that made them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field, StringConstraints
from starlette.responses import Response

from authgate.clients.models import Client
from authgate.clients.validation import MAX_SCOPES, MAX_URIS
from authgate.durations import parse_duration
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import CLIENTS_READ, CLIENTS_WRITE
from authgate.rbac.service import ROOT, check_scope
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
    NO_STORE,
    PREFIX,
    Admin,
    AdminCaller,
    AdminRoute,
    Body,
    Cursor,
    Limit,
    Name,
    Text,
    body_doc,
    canonical,
    etag,
    no_content,
    object_response,
    paged,
    path_key,
    quoted,
    read_body,
    require_match,
    url,
)
from authgate.web.admin.idempotency import idempotent
from authgate.web.admin.users import Filter, Scope, list_scope, query_text

#: Changing any of these changes who can authenticate as the client.
CREDENTIAL_FIELDS = ("auth_method", "jwks", "jwks_uri")

router = APIRouter(route_class=AdminRoute, tags=["clients"])
Uri = Annotated[Text, StringConstraints(min_length=1, max_length=2000)]
Uris = Annotated[list[Uri], Field(max_length=MAX_URIS)]
Token = Annotated[Text, StringConstraints(min_length=1, max_length=500)]
#: Ten years in seconds: more than any token lifetime, and within what a timedelta holds.
MAX_SECONDS = 10 * 365 * 86400
Duration = (
    Annotated[Text, StringConstraints(min_length=1, max_length=32)]
    | Annotated[int, Field(le=MAX_SECONDS)]
)
_ZERO = re.compile(r"^\s*0+\s*[smhd]?\s*\Z")


class ClientFields(Body):
    """What a registration holds (docs/admin-api.md); ``scopes`` is what the client may
    request, ``scope`` where it lives. Durations: ``15m`` or seconds."""

    grant_types: Annotated[list[Token], Field(max_length=10)] | None = None
    scopes: Annotated[list[Token], Field(max_length=MAX_SCOPES)] | None = None
    redirect_uris: Uris | None = None
    post_logout_redirect_uris: Uris | None = None
    auth_method: Token | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: Uri | None = None
    audiences: Annotated[list[Uri], Field(max_length=MAX_URIS)] | None = None
    first_party: bool | None = None
    access_token_ttl: Duration | None = None
    refresh_token_ttl: Duration | None = None
    scope: Scope | None = None

    def options(self) -> dict[str, Any]:
        """The service's keyword arguments for the members given."""
        given = {k: getattr(self, k) for k in self.model_fields_set}
        given = {k: v for k, v in given.items() if v is not None}
        for ttl in ("access_token_ttl", "refresh_token_ttl"):
            if isinstance(given.get(ttl), int):
                given[ttl] = timedelta(seconds=given[ttl])
        return given


class NewClient(ClientFields):
    name: Annotated[Name, StringConstraints(max_length=200)]
    public: bool = False


class ClientChange(ClientFields):
    """Absent (or null) members stay as they are."""

    name: Annotated[Name, StringConstraints(max_length=200)] | None = None


class Rotation(Body):
    """How long the current secret keeps working next to the new one (``0`` by default)."""

    overlap: Duration = 0


def _location(request: Request, client: Client) -> str:
    return url(request, f"{PREFIX}/clients/{quoted(client.client_id)}")


def _with_secret(
    client: Client, secret: str | None, status: int, location: str | None = None
) -> Response:
    """The client and, this once, its secret; the ETag is the client's own (no secret)."""
    body = client.to_json()
    headers = {**NO_STORE, "ETag": etag(body)}
    if location is not None:
        headers["Location"] = location
    if secret is not None:
        body["client_secret"] = secret
    return Response(canonical(body), status, headers, media_type="application/json")


def _overlap(value: str | int) -> timedelta:
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput("overlap must not be negative")
        return timedelta(seconds=value)  # at most MAX_SECONDS (the model says so)
    if _ZERO.match(value):
        return timedelta(0)
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(f"overlap: {exc}") from None


async def _visible(admin: Admin, client_id: str) -> Client:
    """The client, when the caller may read or change it where it lives; else 404 as if
    it did not exist, so its scope is not disclosed."""
    key = path_key(client_id, "client with id")
    client = await admin.container.clients.get(key)
    if client is not None:
        for permission in (CLIENTS_READ, CLIENTS_WRITE):
            if await admin.policy.holds(admin.caller, permission, client.scope):
                return client
    raise NotFound(f"no client with id {key!r}")


async def _writable(admin: Admin, client_id: str) -> Client:
    client = await _visible(admin, client_id)
    await admin.policy.require_client_change(admin.caller, client.scope, client.first_party)
    return client


async def _check_root_powers(admin: Admin, options: dict[str, Any]) -> None:
    """A first-party client skips consent and may act for users on AuthGate's own API:
    that is the installation's to give, at ``/``."""
    if options.get("first_party"):
        await admin.require(CLIENTS_WRITE, ROOT)


# -- the collection -----------------------------------------------------------------------


@router.get("/clients", summary="List clients by client_id, optionally by name prefix and scope")
async def list_clients(
    request: Request,
    admin: AdminCaller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=200, description="name prefix")] = None,
    scope: Filter = None,
) -> Response:
    """Without ``scope`` this needs ``clients.read`` at ``/``; with it, at that scope
    (which lists the clients living there and below)."""
    path = await list_scope(admin, CLIENTS_READ, scope)
    prefix = query_text(q)

    async def fetch(after: str | None, count: int) -> list[Client]:
        return list(await admin.container.clients.page(after, count, q=prefix, scope=path))

    return await paged(
        request, f"{PREFIX}/clients", fetch, lambda c: c.client_id, Client.to_json, limit, cursor
    )


@router.post(
    "/clients", status_code=201, summary="Register a client", openapi_extra=body_doc(NewClient)
)
@idempotent
async def create_client(request: Request, admin: AdminCaller) -> Response:
    """Needs ``clients.write`` at the new client's scope; the answer holds the secret
    (for a confidential client using one) this once."""
    body = await read_body(request, NewClient)
    options = body.options()
    path = check_scope(options.pop("scope", ROOT))
    await admin.require(CLIENTS_WRITE, path)
    await _check_root_powers(admin, options)
    client, secret = await admin.container.clients.create(admin.ctx, scope=path, **options)
    return _with_secret(client, secret, 201, _location(request, client))


# -- one client ---------------------------------------------------------------------------


@router.get("/clients/{client_id}", summary="One client (with an ETag; never its secret)")
async def get_client(client_id: str, admin: AdminCaller) -> Response:
    return object_response((await _visible(admin, client_id)).to_json())


@router.patch(
    "/clients/{client_id}",
    summary="Change some of a client's registration",
    openapi_extra=body_doc(ClientChange),
)
async def update_client(client_id: str, request: Request, admin: AdminCaller) -> Response:
    client = await _writable(admin, client_id)
    body = await read_body(request, ClientChange)
    options = body.options()
    if not options:
        raise InvalidInput("name at least one member to change")
    if "scope" in options:
        options["scope"] = check_scope(options["scope"])
    require_match(request, client.to_json())
    if "scope" in options:
        await admin.require(CLIENTS_WRITE, options["scope"])  # both the old and the new
    await _check_root_powers(admin, options)
    if any(field in options for field in CREDENTIAL_FIELDS):
        await admin.policy.check_takeover(
            admin.caller, f"client:{client.client_id}", "changing the credentials of"
        )
    updated = await admin.container.clients.update(
        client.client_id,
        admin.ctx,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
        **options,
    )
    return object_response(updated.to_json())


@router.delete("/clients/{client_id}", status_code=204, summary="Delete a client")
async def delete_client(client_id: str, request: Request, admin: AdminCaller) -> Response:
    """Its codes, grants, tokens, consents and bindings go with it."""
    client = await _writable(admin, client_id)
    require_match(request, client.to_json())
    await admin.policy.check_takeover(admin.caller, f"client:{client.client_id}", "deleting")
    await admin.container.clients.delete(
        client.client_id,
        admin.ctx,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return no_content()


@router.post(
    "/clients/{client_id}/rotate-secret",
    summary="A new secret, shown only in this answer",
    openapi_extra=body_doc(Rotation),
)
@idempotent
async def rotate_secret(client_id: str, request: Request, admin: AdminCaller) -> Response:
    """The current secret keeps working for ``overlap``; any older one stops at once. A
    request without a body rotates with no overlap."""
    client = await _writable(admin, client_id)
    raw = await request.body()
    body = await read_body(request, Rotation) if raw.strip() else Rotation()
    overlap = _overlap(body.overlap)
    require_match(request, client.to_json())
    await admin.policy.check_takeover(
        admin.caller, f"client:{client.client_id}", "rotating the secret of"
    )
    secret = await admin.container.clients.rotate_secret(
        client.client_id, admin.ctx, overlap=overlap
    )
    answer = {"client_id": client.client_id, "client_secret": secret}
    return Response(canonical(answer), 200, dict(NO_STORE), media_type="application/json")


async def _set_disabled(client_id: str, request: Request, admin: Admin, disabled: bool) -> Response:
    client = await _writable(admin, client_id)
    require_match(request, client.to_json())
    what = "disabling" if disabled else "enabling"
    await admin.policy.check_takeover(admin.caller, f"client:{client.client_id}", what)
    changed = await admin.container.clients.set_disabled(
        client.client_id,
        disabled,
        admin.ctx,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(changed.to_json())


@router.post("/clients/{client_id}/disable", summary="Disable a client: its grants are revoked")
async def disable_client(client_id: str, request: Request, admin: AdminCaller) -> Response:
    return await _set_disabled(client_id, request, admin, True)


@router.post("/clients/{client_id}/enable", summary="Enable a disabled client")
async def enable_client(client_id: str, request: Request, admin: AdminCaller) -> Response:
    return await _set_disabled(client_id, request, admin, False)
