"""``/admin/v1/apis``: protected APIs (resource servers) and the permissions they declare.
Global objects: the caller needs ``authgate:apis.read|write`` at ``/``. An API is named
in paths by its audience, percent-encoded (``/admin/v1/apis/https%3A%2F%2Forders…``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import Field, StringConstraints
from starlette.responses import Response

from authgate.apis.models import Api
from authgate.apis.service import MAX_AUDIENCE, MAX_NAME, MAX_PERMISSIONS
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import APIS_READ, APIS_WRITE
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
    object_response,
    paged,
    path_key,
    quoted,
    read_body,
    require_match,
    url,
)
from authgate.web.admin.idempotency import idempotent

router = APIRouter(route_class=AdminRoute, tags=["apis"])
Audience = Annotated[Name, StringConstraints(max_length=MAX_AUDIENCE)]
ApiName = Annotated[Text, StringConstraints(min_length=1, max_length=MAX_NAME)]
Permissions = Annotated[list[Name], Field(max_length=MAX_PERMISSIONS)]


class NewApi(Body):
    audience: Audience
    """An absolute URI without a fragment (RFC 8707 §2), e.g. https://orders.example.com."""
    name: ApiName
    permissions: Permissions = []
    token_format: Literal["jwt", "opaque"] = "jwt"


class ApiChange(Body):
    """Absent (or null) members stay; the audience and token format cannot change."""

    name: ApiName | None = None
    permissions: Permissions | None = None


def _location(request: Request, api: Api) -> str:
    return url(request, f"{PREFIX}/apis/{quoted(api.audience)}")


async def _get(admin: Admin, audience: str) -> Api:
    api = await admin.container.apis.get(path_key(audience, "API with audience"))
    if api is None:
        raise NotFound(f"no API with audience {audience[:100]!r}")
    return api


@router.get("/apis", summary="List APIs by audience")
async def list_apis(
    request: Request, admin: AdminCaller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    await admin.require(APIS_READ)
    return await paged(
        request,
        f"{PREFIX}/apis",
        admin.container.apis.page,
        lambda api: api.audience,
        Api.to_json,
        limit,
        cursor,
    )


@router.post("/apis", status_code=201, summary="Register an API", openapi_extra=body_doc(NewApi))
@idempotent
async def create_api(request: Request, admin: AdminCaller) -> Response:
    await admin.require(APIS_WRITE)
    body = await read_body(request, NewApi)
    api = await admin.container.apis.create(
        admin.ctx,
        audience=body.audience,
        name=body.name,
        permissions=body.permissions,
        token_format=body.token_format,
    )
    return object_response(api.to_json(), 201, _location(request, api))


@router.get("/apis/{audience:path}", summary="One API (with an ETag)")
async def get_api(audience: str, admin: AdminCaller) -> Response:
    await admin.require(APIS_READ)
    return object_response((await _get(admin, audience)).to_json())


@router.patch(
    "/apis/{audience:path}",
    summary="Change an API's name or permissions",
    openapi_extra=body_doc(ApiChange),
)
async def update_api(audience: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(APIS_WRITE)
    current = await _get(admin, audience)
    body = await read_body(request, ApiChange)
    if body.name is None and body.permissions is None:
        raise InvalidInput("name at least one of name, permissions")
    require_match(request, current.to_json())
    api = await admin.container.apis.update(
        admin.ctx,
        current.audience,
        name=body.name,
        permissions=body.permissions,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(api.to_json())
