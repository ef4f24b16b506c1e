"""Users (search, create, one user's access and API keys) and groups (create, members).

Each user is shown and changed only where the administrator holds ``users.read`` /
``users.write`` at the user's scope; joining a group goes through the policy's escalation
check (the new member gets every binding of the group)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.accounts.models import User
from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.models import Binding, Group
from authgate.rbac.service import MAX_PAGE, ROOT, check_scope
from authgate.web.console.common import (
    APIKEYS_READ,
    APIKEYS_WRITE,
    BINDINGS_READ,
    GROUPS_READ,
    GROUPS_WRITE,
    NOT_CONFIRMED,
    USERS_READ,
    USERS_WRITE,
    Console,
    confirmed,
)
from authgate.web.console.session import enter
from authgate.web.render import redirect

router = APIRouter(include_in_schema=False)
SHOWN = 100


async def _visible(c: Console, user_id: str) -> User:
    """The user, when the administrator may read or change it; else as if it did not exist."""
    user = await c.container.users.get_by_id(user_id[:255])
    if user is not None:
        for permission in (USERS_READ, USERS_WRITE):
            if await c.holds(permission, user.scope):
                return user
    raise NotFound("There is no such user (or you may not see it).")


# -- the list -----------------------------------------------------------------------------


@router.get("/console/users")
async def users(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _users_page(c)


async def _users_page(c: Console, status: int = 200, error: str | None = None) -> Response:
    query = c.request.query_params
    prefix = query.get("q", "")[:150].strip()
    scope = query.get("scope", "")[:1000].strip() or ROOT
    try:
        path = check_scope(scope)
        await c.require(USERS_READ, path)
        found = await c.container.users.page(None, SHOWN, q=prefix or None, scope=path)
    except AuthGateError as exc:
        found, status, error = [], exc.status, error or exc.message
    return c.render(
        "users.html",
        status,
        error=error,
        users=found,
        q=prefix,
        scope=scope,
        may_create=c.may_somewhere(USERS_WRITE),
    )


@router.post("/console/users")
async def create_user(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
    try:
        path = check_scope(fields.get("scope") or ROOT)
        await c.require(USERS_WRITE, path)
        user = await c.container.users.create(
            fields.get("username", ""),
            c.ctx,
            password=fields.get("password") or None,
            email=fields.get("email") or None,
            scope=path,
        )
    except AuthGateError as exc:
        return await _users_page(c, exc.status, exc.message)
    return redirect(f"/console/users/{quote(user.id, safe='')}?created=1")


# -- one user -----------------------------------------------------------------------------


async def _groups_of(c: Console, user_id: str) -> list[Group]:
    found: list[Group] = []
    after: str | None = None
    while True:
        batch = await c.container.access.list_groups(after, MAX_PAGE)
        found += [g for g in batch if user_id in g.members]
        if len(batch) < MAX_PAGE:
            return found
        after = batch[-1].name


async def _bindings_of(c: Console, members: list[str]) -> list[Binding]:
    """Bindings of these members that the administrator may read (at their scope)."""
    found: list[Binding] = []
    for member in members:
        after: str | None = None
        while True:
            batch = await c.container.access.list_bindings(after, MAX_PAGE, member=member)
            found += [b for b in batch if await c.holds(BINDINGS_READ, b.scope)]
            if len(batch) < MAX_PAGE:
                break
            after = batch[-1].id
    return found


@router.get("/console/users/{user_id}")
async def user_detail(request: Request, user_id: str) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _user_page(c, user_id)


async def _user_page(
    c: Console,
    user_id: str,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    try:
        user = await _visible(c, user_id)
    except NotFound as exc:
        return c.render("users.html", 404, error=exc.message, users=[], q="", scope=ROOT)
    container = c.container
    show_groups = await c.holds(GROUPS_READ)
    groups = await _groups_of(c, user.id) if show_groups else []
    members = [f"user:{user.id}", *(f"group:{g.name}" for g in groups)]
    show_keys = await c.holds(APIKEYS_READ) or await c.holds(APIKEYS_WRITE)
    keys = await container.api_keys.list(f"user:{user.id}", limit=SHOWN) if show_keys else []
    created = c.request.query_params.get("created") == "1"
    return c.render(
        "user.html",
        status,
        error=error,
        notice=notice or ("User created." if created else None),
        user=user,
        groups=groups if show_groups else None,
        bindings=await _bindings_of(c, members),
        permissions=sorted(await container.engine.permissions_at_root(f"user:{user.id}")),
        sessions=await container.users.sessions(user.id),
        keys=keys if show_keys else None,
        may_revoke=await c.holds(APIKEYS_WRITE),
    )


@router.post("/console/users/{user_id}/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, user_id: str, key_id: str) -> Response:
    """Needs ``apikeys.write`` at ``/`` (as the admin API); the box must be ticked."""
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
    if not confirmed(fields):
        return await _user_page(c, user_id, 400, NOT_CONFIRMED)
    try:
        user = await _visible(c, user_id)
        await c.require(APIKEYS_WRITE)
        key = await c.container.api_keys.get(key_id[:200])
        if key.owner != f"user:{user.id}":
            raise NotFound("That user has no API key with this id.")
        await c.container.api_keys.revoke(c.ctx, key.id)
    except AuthGateError as exc:
        return await _user_page(c, user_id, exc.status, exc.message)
    return await _user_page(c, user_id, notice=f"API key {key.id} revoked.")


# -- groups -------------------------------------------------------------------------------


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
    listed = await c.container.access.list_groups(None, MAX_PAGE)
    names: dict[str, str] = {}
    for group in listed:
        for member in group.members:
            if member not in names:
                user = await c.container.users.get_by_id(member)
                names[member] = user.username if user else member
    return c.render(
        "groups.html",
        status,
        error=error,
        notice=notice,
        groups=listed,
        names=names,
        may_write=await c.holds(GROUPS_WRITE),
    )


@router.post("/console/groups")
async def create_group(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
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
    return (await _visible(c, user.id)).id


@router.post("/console/groups/{name}/members")
async def add_member(request: Request, name: str) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
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
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
    if not confirmed(fields):
        return await _groups_page(c, 400, NOT_CONFIRMED)
    try:
        await c.require(GROUPS_WRITE)
        await c.container.access.remove_member(c.ctx, name, user_id)
    except AuthGateError as exc:
        return await _groups_page(c, exc.status, exc.message)
    return await _groups_page(c, notice=f"Removed the member from {name}.")
