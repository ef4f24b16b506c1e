"""``/admin/v1/groups`` and ``/admin/v1/groups/{name}/members``. Global objects: the caller
needs ``authgate:groups.read|write`` at ``/``; adding a member also needs every permission
the group's bindings grant, where they grant it (it hands the member all of them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field, StringConstraints
from starlette.responses import Response

from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.admin import GROUPS_READ, GROUPS_WRITE
from authgate.rbac.models import Group
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

router = APIRouter(route_class=AdminRoute, tags=["groups"])
MAX_MEMBERS = 1000


class NewGroup(Body):
    name: Name
    description: Annotated[Text, StringConstraints(max_length=500)] = ""
    members: Annotated[list[Name], Field(max_length=MAX_MEMBERS)] = []


class GroupChange(Body):
    """Members change one at a time (``/members``); the name is the group's identity."""

    description: Annotated[Text, StringConstraints(max_length=500)]


class NewMember(Body):
    user: Name  # username or user id


def _membership(group: str, user_id: str) -> dict[str, Any]:
    return {"group": group, "user": user_id}


def _member_location(request: Request, group: str, user_id: str) -> str:
    return url(request, f"{PREFIX}/groups/{quoted(group)}/members/{quoted(user_id)}")


@router.get("/groups", summary="List groups by name")
async def list_groups(
    request: Request, admin: AdminCaller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    await admin.require(GROUPS_READ)
    return await paged(
        request,
        f"{PREFIX}/groups",
        admin.container.access.list_groups,
        lambda group: group.name,
        Group.to_json,
        limit,
        cursor,
    )


@router.post("/groups", status_code=201, summary="Create a group", openapi_extra=body_doc(NewGroup))
@idempotent
async def create_group(request: Request, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_WRITE)
    body = await read_body(request, NewGroup)
    # A new group has no bindings yet, so its first members gain nothing through it.
    group = await admin.container.access.create_group(
        admin.ctx, body.name, body.members, body.description
    )
    location = url(request, f"{PREFIX}/groups/{quoted(group.name)}")
    return object_response(group.to_json(), 201, location)


@router.get("/groups/{name}", summary="One group with its members (with an ETag)")
async def get_group(name: str, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_READ)
    group = await admin.container.access.get_group(path_key(name, "group named"))
    return object_response(group.to_json())


@router.patch(
    "/groups/{name}", summary="Change a group's description", openapi_extra=body_doc(GroupChange)
)
async def update_group(name: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_WRITE)
    access = admin.container.access
    group = await access.get_group(path_key(name, "group named"))
    body = await read_body(request, GroupChange)
    require_match(request, group.to_json())
    changed = await access.update_group(
        admin.ctx,
        group.name,
        description=body.description,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(changed.to_json())


@router.delete("/groups/{name}", status_code=204, summary="Delete a group and its bindings")
async def delete_group(name: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_WRITE)
    access = admin.container.access
    group = await access.get_group(path_key(name, "group named"))
    require_match(request, group.to_json())
    await access.delete_group(admin.ctx, group.name)
    return no_content()


# -- members ------------------------------------------------------------------------------


@router.get("/groups/{name}/members", summary="A group's members by user id")
async def list_members(
    name: str,
    request: Request,
    admin: AdminCaller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    await admin.require(GROUPS_READ)
    group = await admin.container.access.get_group(path_key(name, "group named"))

    async def fetch(after: str | None, count: int) -> list[str]:
        return [m for m in group.members if after is None or m > after][:count]

    return await paged(
        request,
        f"{PREFIX}/groups/{quoted(group.name)}/members",
        fetch,
        lambda user_id: user_id,
        lambda user_id: _membership(group.name, user_id),
        limit,
        cursor,
    )


@router.post(
    "/groups/{name}/members",
    status_code=201,
    summary="Add a user to a group",
    openapi_extra=body_doc(NewMember),
)
@idempotent
async def add_member(name: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_WRITE)
    access = admin.container.access
    group = await access.get_group(path_key(name, "group named"))
    body = await read_body(request, NewMember)
    user_id = await _user_id(admin, body.user)
    await admin.policy.check_join(admin.caller, group.name)
    if not await access.add_member(admin.ctx, group.name, body.user):
        raise Conflict(f"user {user_id!r} is already a member of group {group.name!r}")
    body_json = _membership(group.name, user_id)
    return object_response(body_json, 201, _member_location(request, group.name, user_id))


@router.get("/groups/{name}/members/{user}", summary="One membership (with an ETag)")
async def get_member(name: str, user: str, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_READ)
    group, user_id = await _member_of(admin, name, user)
    return object_response(_membership(group.name, user_id))


@router.delete(
    "/groups/{name}/members/{user}", status_code=204, summary="Remove a user from a group"
)
async def remove_member(name: str, user: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(GROUPS_WRITE)
    group, user_id = await _member_of(admin, name, user)
    require_match(request, _membership(group.name, user_id))
    if not await admin.container.access.remove_member(admin.ctx, group.name, user_id):
        raise NotFound(f"user {user_id!r} is not a member of group {group.name!r}")
    return no_content()


async def _user_id(admin: Admin, user: str) -> str:
    """A username, else a user id, resolved in the access service's order."""
    users = admin.container.users
    try:
        return (await users.get(user)).id
    except (NotFound, InvalidInput):
        pass
    found = await users.get_by_id(user)
    if found is None:
        raise NotFound(f"no user named {user!r} (nor with that id)")
    return found.id


async def _member_of(admin: Admin, name: str, user: str) -> tuple[Group, str]:
    group = await admin.container.access.get_group(path_key(name, "group named"))
    key = path_key(user, "member")
    if key in group.members:
        return group, key
    try:
        user_id = await _user_id(admin, key)
    except NotFound:
        user_id = None
    if user_id is None or user_id not in group.members:
        raise NotFound(f"{key!r} is not a member of group {group.name!r}")
    return group, user_id
