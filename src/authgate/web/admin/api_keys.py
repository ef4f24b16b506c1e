"""``/admin/v1/api-keys``: API keys (spec §5), for administrators and for their owners.

Self-service: a user or client signed in with an access token lists, makes and revokes
its own keys with no admin permission (a key can only carry what its owner holds).
Anyone else's keys need ``authgate:apikeys.read`` / ``authgate:apikeys.write`` at ``/``;
making a key for someone else also needs every permission the key lists (nobody hands
out what they do not hold) and an explicit list. An API key cannot make API keys: a
limited key must not mint an unlimited one. A key the caller may not read answers 404
like a missing one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response

from authgate.apikeys.models import ApiKey
from authgate.apikeys.service import MAX_NETWORKS, MAX_PERMISSIONS
from authgate.durations import parse_duration
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import APIKEYS_READ, APIKEYS_WRITE, AccessDenied
from authgate.rbac.service import ROOT
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
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

router = APIRouter(route_class=AdminRoute, tags=["api-keys"])
Permission = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Network = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Lifetime = Annotated[str, StringConstraints(min_length=2, max_length=16)]


class NewApiKey(Body):
    owner: Name | None = None
    """``user:<id or username>`` or ``client:<client_id>``; the caller when absent."""
    name: Annotated[Text, StringConstraints(max_length=200)] = ""
    permissions: list[Permission] = []
    expires_in: Lifetime | None = None
    """A duration such as ``90d``; no expiry when absent."""
    allowed_networks: list[Network] = []


async def _owner(admin: Admin, owner: str | None) -> str:
    """``user:<username>`` is accepted and stored as ``user:<id>``."""
    if owner is None:
        return admin.caller.member
    kind, sep, ident = owner.partition(":")
    if kind == "user" and sep and ident:
        user = await admin.container.users.get_by_id(ident)
        if user is None:
            try:
                user = await admin.container.users.get(ident)
            except (NotFound, InvalidInput):
                raise InvalidInput(f"no user {ident!r}") from None
        return f"user:{user.id}"
    if kind == "client" and sep and ident:
        return owner
    raise InvalidInput("owner must be user:<id or username> or client:<client_id>")


async def _may(admin: Admin, key_owner: str, permission: str) -> bool:
    return key_owner == admin.caller.member or await admin.policy.holds(
        admin.caller, permission, ROOT
    )


@router.get("/api-keys", summary="List API keys (never their secrets)")
async def list_api_keys(
    request: Request,
    admin: AdminCaller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    owner: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """``owner`` set to the caller lists its own keys; anything else needs
    ``apikeys.read`` at ``/``."""
    who = await _owner(admin, owner) if owner is not None else None
    if who != admin.caller.member:
        await admin.require(APIKEYS_READ, ROOT)

    async def fetch(after: str | None, count: int) -> list[ApiKey]:
        return await admin.container.api_keys.list(who, after=after, limit=count)

    return await paged(
        request, f"{PREFIX}/api-keys", fetch, lambda k: k.id, ApiKey.to_json, limit, cursor
    )


@router.post(
    "/api-keys",
    status_code=201,
    summary="Make an API key (the key is in this answer only)",
    openapi_extra=body_doc(NewApiKey),
)
@idempotent
async def create_api_key(request: Request, admin: AdminCaller) -> Response:
    body = await read_body(request, NewApiKey)
    if admin.caller.key_id is not None:
        raise AccessDenied(
            "an API key cannot make API keys: call with an access token", APIKEYS_WRITE, ROOT
        )
    if len(body.permissions) > MAX_PERMISSIONS or len(body.allowed_networks) > MAX_NETWORKS:
        raise InvalidInput(
            f"at most {MAX_PERMISSIONS} permissions and {MAX_NETWORKS} networks per key"
        )
    owner = await _owner(admin, body.owner)
    await admin.policy.check_key_for(admin.caller, owner, body.permissions)
    try:
        lifetime = parse_duration(body.expires_in) if body.expires_in is not None else None
    except ValueError as exc:
        raise InvalidInput(f"expires_in: {exc}") from None
    created = await admin.container.api_keys.create(
        admin.ctx,
        owner,
        name=body.name,
        permissions=body.permissions,
        expires_in=lifetime,
        allowed_networks=body.allowed_networks,
    )
    location = url(request, f"{PREFIX}/api-keys/{quoted(created.api_key.id)}")
    return object_response(created.to_json(), 201, location)


@router.get("/api-keys/{key_id}", summary="One API key (never its secret)")
async def get_api_key(key_id: str, admin: AdminCaller) -> Response:
    key = await _visible(admin, key_id)
    return object_response(key.to_json())


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_api_key(key_id: str, request: Request, admin: AdminCaller) -> Response:
    key = await _visible(admin, key_id)
    if not await _may(admin, key.owner, APIKEYS_WRITE):
        raise AccessDenied(
            f"this needs permission {APIKEYS_WRITE} on scope /, which the caller does not hold",
            APIKEYS_WRITE,
            ROOT,
        )
    require_match(request, key.to_json())
    await admin.container.api_keys.revoke(admin.ctx, key.id)
    return no_content()


async def _visible(admin: Admin, key_id: str) -> ApiKey:
    key = await admin.container.api_keys.get(path_key(key_id, "API key with id"))
    if await _may(admin, key.owner, APIKEYS_READ) or await _may(admin, key.owner, APIKEYS_WRITE):
        return key
    raise NotFound(f"no API key with id {key_id!r}")
