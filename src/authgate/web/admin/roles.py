"""``/admin/v1/roles``: roles and what they inherit. Global objects: the caller needs
``authgate:roles.read|write`` at ``/``, and may only create or change a role into one whose
every permission (inherited ones included) the caller holds at ``/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from authgate.errors import InvalidInput
from authgate.rbac.admin import ROLES_READ, ROLES_WRITE
from authgate.rbac.models import Role
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
    PREFIX,
    AdminCaller,
    AdminRoute,
    Body,
    Cursor,
    Limit,
    Name,
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

router = APIRouter(route_class=AdminRoute, tags=["roles"])
MAX_ITEMS = 1000
Names = Annotated[list[Name], Field(max_length=MAX_ITEMS)]


class NewRole(Body):
    name: Name
    permissions: Names = []
    inherits: Names = []


class RoleChange(Body):
    """Absent (or null) members stay as they are; a given list replaces the old one."""

    permissions: Names | None = None
    inherits: Names | None = None


def _location(request: Request, role: Role) -> str:
    return url(request, f"{PREFIX}/roles/{quoted(role.name)}")


@router.get("/roles", summary="List roles by name")
async def list_roles(
    request: Request, admin: AdminCaller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    await admin.require(ROLES_READ)
    return await paged(
        request,
        f"{PREFIX}/roles",
        admin.container.access.list_roles,
        lambda role: role.name,
        Role.to_json,
        limit,
        cursor,
    )


@router.post("/roles", status_code=201, summary="Create a role", openapi_extra=body_doc(NewRole))
@idempotent
async def create_role(request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROLES_WRITE)
    body = await read_body(request, NewRole)
    await admin.policy.check_new_role(admin.caller, body.name, body.permissions, body.inherits)
    role = await admin.container.access.create_role(
        admin.ctx, body.name, body.permissions, body.inherits
    )
    return object_response(role.to_json(), 201, _location(request, role))


@router.get("/roles/{name}", summary="One role (with an ETag)")
async def get_role(name: str, admin: AdminCaller) -> Response:
    await admin.require(ROLES_READ)
    role = await admin.container.access.get_role(path_key(name, "role named"))
    return object_response(role.to_json())


@router.patch(
    "/roles/{name}",
    summary="Change a role's permissions or inherited roles",
    openapi_extra=body_doc(RoleChange),
)
async def update_role(name: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROLES_WRITE)
    access = admin.container.access
    current = await access.get_role(path_key(name, "role named"))
    body = await read_body(request, RoleChange)
    if body.permissions is None and body.inherits is None:
        raise InvalidInput("name at least one of permissions, inherits")
    require_match(request, current.to_json())
    await admin.policy.check_role_change(
        admin.caller, current.name, permissions=body.permissions, inherits=body.inherits
    )
    role = await access.update_role(
        admin.ctx,
        current.name,
        permissions=body.permissions,
        inherits=body.inherits,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(role.to_json())


@router.delete("/roles/{name}", status_code=204, summary="Delete a role and its bindings")
async def delete_role(name: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROLES_WRITE)
    access = admin.container.access
    current = await access.get_role(path_key(name, "role named"))
    require_match(request, current.to_json())
    await access.delete_role(admin.ctx, current.name)
    return no_content()
