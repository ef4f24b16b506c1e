"""Groups: create, add or remove members. Joining a group goes through the policy's
escalation check (the new member gets every binding of the group)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.admin import GROUPS_READ, GROUPS_WRITE
from authgate.rbac.models import Group
from authgate.web.console.common import (
    NOT_CONFIRMED,
    Console,
    Listing,
    confirmed,
    one_page,
)
from authgate.web.console.people import visible_user
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)


@router.get("/console/groups")
async def groups(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _groups_page(c)


async def _groups_page(
    c: Console, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    if not await c.holds(GROUPS_READ):
        return c.render("forbidden.html", 403)
    listed: Listing[Group] = Listing([], None)
    try:
        listed = await one_page(
            c.request, "/console/groups", c.container.access.list_groups, lambda g: g.name
        )
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    names: dict[str, str] = {}
    for group in listed.items:
        for member in group.members:
            if member not in names:
                user = await c.container.users.get_by_id(member)
                names[member] = user.username if user else member
    return c.render(
        "groups.html",
        status,
        error=error,
        notice=notice,
        groups=listed.items,
        next_url=listed.next_url,
        names=names,
        may_write=await c.holds(GROUPS_WRITE),
    )


@router.post("/console/groups")
async def create_group(request: Request) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    name = fields.get("name", "")
    try:
        await c.require(GROUPS_WRITE)
        await c.container.access.create_group(c.ctx, name, (), fields.get("description", ""))
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return await _groups_page(c, 201, notice=f"Group {name} created.")


async def _member_id(c: Console, username: str) -> str:
    """A member named by username or id, visible to the administrator."""
    container = c.container
    user = await container.users.get_by_id(username[:255])
    if user is None:
        try:
            user = await container.users.get(username[:150])
        except (NotFound, InvalidInput):
            raise NotFound(f"There is no user {username!r} (or you may not see it).") from None
    return (await visible_user(c, user.id)).id


@router.post("/console/groups/{name}/members")
async def add_member(request: Request, name: str) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        await c.require(GROUPS_WRITE)
        group = await c.container.access.get_group(name)
        user_id = await _member_id(c, fields.get("user", ""))
        await c.policy.check_join(c.actor, group.name)
        await c.container.access.add_member(c.ctx, group.name, user_id)
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return await _groups_page(c, notice=f"Added {fields.get('user')} to {name}.")


@router.post("/console/groups/{name}/members/{user_id}/remove")
async def remove_member(request: Request, name: str, user_id: str) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _groups_page(c, 400, NOT_CONFIRMED)
    try:
        await c.require(GROUPS_WRITE)
        await c.container.access.remove_member(c.ctx, name, user_id)
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return await _groups_page(c, notice=f"Removed the member from {name}.")


@router.post("/console/groups/{name}/edit")
async def edit_group(request: Request, name: str) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        await c.require(GROUPS_WRITE)
        await c.container.access.update_group(
            c.ctx, name, description=fields.get("description", "")
        )
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return c.done("/console/groups", notice=f"The description of {name} is changed.")


@router.post("/console/groups/{name}/delete")
async def delete_group(request: Request, name: str) -> Response:
    """Its bindings go with it; its members lose what it granted them."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _groups_page(c, 400, NOT_CONFIRMED)
    try:
        await c.require(GROUPS_WRITE)
        await c.container.access.delete_group(c.ctx, name)
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return c.done("/console/groups", notice=f"Group {name} deleted, with its bindings.")
