"""Users: search (a page at a time), create, and one user's access, sessions and API keys,
with what an administrator does to an account (disable or enable it, set its password,
remove its second factor, end its sessions).

Each user is shown and changed only where the administrator holds ``users.read`` /
``users.write`` at the user's scope, as in the admin API; setting a password or removing
a second factor hands over the account, and disabling, enabling or signing it out acts
against it, so those also need everything the user holds (``AdminPolicy.check_takeover``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.accounts.models import User
from authgate.durations import parse_duration
from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.admin import (
    APIKEYS_READ,
    APIKEYS_WRITE,
    BINDINGS_READ,
    GROUPS_READ,
    USERS_READ,
    USERS_WRITE,
)
from authgate.rbac.models import Binding, Group
from authgate.rbac.service import MAX_PAGE, ROOT, check_scope
from authgate.web.console.common import (
    NOT_CONFIRMED,
    Console,
    Listing,
    confirmed,
    one_page,
)
from authgate.web.console.session import enter, enter_form
from authgate.web.render import redirect

router = APIRouter(include_in_schema=False)
SHOWN = 100


async def visible_user(c: Console, user_id: str) -> User:
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
    found: Listing[User] = Listing([], None)
    try:
        path = check_scope(scope)
        await c.require(USERS_READ, path)

        async def fetch(after: str | None, limit: int) -> list[User]:
            return list(await c.container.users.page(after, limit, q=prefix or None, scope=path))

        found = await one_page(c.request, "/console/users", fetch, lambda u: u.id)
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    return c.render(
        "users.html",
        status,
        error=error,
        users=found.items,
        next_url=found.next_url,
        q=prefix,
        scope=scope,
        may_create=c.may_somewhere(USERS_WRITE),
    )


@router.post("/console/users")
async def create_user(request: Request) -> Response:
    entered = await enter_form(request, ("password",))
    if isinstance(entered, Response):
        return entered
    c, fields = entered
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
    access = c.container.access
    return [await access.get_group(name) for name in await access.groups_of(user_id)]


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
        user = await visible_user(c, user_id)
    except NotFound as exc:
        return c.render("users.html", 404, error=exc.message, users=[], q="", scope=ROOT)
    container = c.container
    show_groups = await c.holds(GROUPS_READ)
    groups = await _groups_of(c, user.id) if show_groups else []
    members = [f"user:{user.id}", *(f"group:{g.name}" for g in groups)]
    show_keys = await c.holds(APIKEYS_READ) or await c.holds(APIKEYS_WRITE)
    keys = await container.api_keys.list(f"user:{user.id}", limit=SHOWN) if show_keys else []
    created = c.request.query_params.get("created") == "1"
    may_write = await c.holds(USERS_WRITE, user.scope)
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
        may_write=may_write,
        may_write_root=may_write and await c.holds(USERS_WRITE, ROOT),
        may_take_over=may_write and await _may_take_over(c, user),
    )


async def _may_take_over(c: Console, user: User) -> bool:
    try:
        await c.policy.check_takeover(c.actor, f"user:{user.id}", "taking over")
    except AuthGateError:
        return False
    return True


@router.post("/console/users/{user_id}/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, user_id: str, key_id: str) -> Response:
    """Needs ``apikeys.write`` at ``/`` (as the admin API); the box must be ticked."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _user_page(c, user_id, 400, NOT_CONFIRMED)
    try:
        user = await visible_user(c, user_id)
        await c.require(APIKEYS_WRITE)
        key = await c.container.api_keys.get(key_id[:200])
        if key.owner != f"user:{user.id}":
            raise NotFound("That user has no API key with this id.")
        await c.container.api_keys.revoke(c.ctx, key.id)
    except AuthGateError as exc:
        return await _user_page(c, user_id, exc.status, exc.message)
    return await _user_page(c, user_id, notice=f"API key {key.id} revoked.")


@router.post("/console/users/{user_id}/api-keys")
async def make_api_key(request: Request, user_id: str) -> Response:
    """A key for this user, as the admin API makes one for someone else
    (``AdminPolicy.check_key_for``): it lists its permissions, each held by the
    administrator at ``/``. The key is shown once, on the next page."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        user = await visible_user(c, user_id)
        owner = f"user:{user.id}"
        permissions = fields.get("permissions", "").split()
        await c.policy.check_key_for(c.actor, owner, permissions)
        expires = fields.get("expires_in", "")
        try:
            lifetime = parse_duration(expires) if expires else None
        except ValueError as exc:
            raise InvalidInput(f"Expires in: {exc}") from None
        made = await c.container.api_keys.create(
            c.ctx,
            owner,
            name=fields.get("name", ""),
            permissions=permissions,
            expires_in=lifetime,
        )
    except AuthGateError as exc:
        return await _user_page(c, user_id, exc.status, exc.message)
    notice = f"API key {made.api_key.id} made for {user.username}: pass it on now."
    return c.done(f"/console/users/{quote(user.id, safe='')}", notice=notice, apikey=made.key)


# -- what an administrator does to an account ---------------------------------------------

#: An action answers the notice to show, or the notice and what else the next page shows
#: once (a generated password).
Action = Callable[[Console, User, Mapping[str, str]], Awaitable[str | tuple[str, dict[str, str]]]]


async def _act(
    request: Request,
    user_id: str,
    action: Action,
    *,
    confirm: bool,
    keep: tuple[str, ...] = (),
    then: str | None = None,
) -> Response:
    """Checks as the admin API does (``users.write`` at the user's scope, the rest inside
    ``action``), then POST → 303 → GET (of ``then``, else the user's page) with the
    notice ``action`` returns."""
    entered = await enter_form(request, keep)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        user = await visible_user(c, user_id)
        await c.require(USERS_WRITE, user.scope)
        if confirm and not confirmed(fields):
            return await _user_page(c, user.id, 400, NOT_CONFIRMED)
        done = await action(c, user, fields)
    except AuthGateError as exc:
        return await _user_page(c, user_id, exc.status, exc.message)
    notice, shown_once = done if isinstance(done, tuple) else (done, {})
    return c.done(then or f"/console/users/{quote(user.id, safe='')}", notice=notice, **shown_once)


async def _disable(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "disabling")
    await c.container.users.set_disabled(user.username, True, c.ctx)
    return f"{user.username} is disabled: their sessions ended and their tokens stop working."


async def _enable(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "enabling")
    await c.container.users.set_disabled(user.username, False, c.ctx)
    return f"{user.username} is enabled again."


async def _set_password(
    c: Console, user: User, fields: Mapping[str, str]
) -> str | tuple[str, dict[str, str]]:
    """The password typed, or with "generate" one made here and shown once (in the sealed
    result cookie, never in the address or a log)."""
    password = fields.get("password", "")
    generate = fields.get("generate") == "yes"
    if not password and not generate:
        raise InvalidInput("Type the new password, or tick the box to generate one.")
    if password and generate:
        raise InvalidInput("Either type a password or generate one, not both.")
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "setting the password of")
    made = await c.container.users.reset_password(user.username, c.ctx, password or None)
    if made is None:
        return f"The password of {user.username} is set."
    return f"A password for {user.username} is made: pass it on now.", {"password": made}


async def _reset_mfa(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "removing the second factor of")
    had = await c.container.mfa.reset(user.id, c.ctx)
    if not had:
        return f"{user.username} had no second factor; their recovery codes are cleared."
    return f"The second factor of {user.username} is removed: they sign in with the password."


async def _delete(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "deleting")
    await c.container.users.delete(user.username, c.ctx)
    return f"{user.username} is deleted, with their sessions and bindings."


async def _end_sessions(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.policy.check_takeover(c.actor, f"user:{user.id}", "signing out")
    ended = await c.container.users.end_sessions(user.username, c.ctx)
    return f"Ended {ended} session{'' if ended == 1 else 's'} of {user.username}."


@router.post("/console/users/{user_id}/disable")
async def disable_user(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _disable, confirm=True)


@router.post("/console/users/{user_id}/enable")
async def enable_user(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _enable, confirm=False)


@router.post("/console/users/{user_id}/password")
async def set_password(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _set_password, confirm=True, keep=("password",))


@router.post("/console/users/{user_id}/mfa/reset")
async def reset_mfa(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _reset_mfa, confirm=True)


@router.post("/console/users/{user_id}/sessions/end")
async def end_sessions(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _end_sessions, confirm=True)


@router.post("/console/users/{user_id}/delete")
async def delete_user(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _delete, confirm=True, then="/console/users")


# -- what a user carries: e-mail, scope, attributes ----------------------------------------


async def _edit(c: Console, user: User, fields: Mapping[str, str]) -> str:
    """The e-mail address feeds conditions wherever the user is bound, so changing it
    needs ``users.write`` at ``/``; moving the user needs it at the new scope too."""
    email = fields.get("email", "")
    scope = fields.get("scope", "")
    changed = []
    if email and email != (user.email or ""):
        await c.require(USERS_WRITE, ROOT)
        changed.append("e-mail")
    if not email and user.email:
        raise InvalidInput("An e-mail address, once set, can be changed but not removed.")
    path = check_scope(scope) if scope else user.scope
    if path != user.scope:
        await c.require(USERS_WRITE, path)
        changed.append("scope")
    if not changed:
        return "Nothing to change."
    await c.container.users.update(
        user.username,
        c.ctx,
        email=email if "e-mail" in changed else None,
        scope=path if "scope" in changed else None,
    )
    return f"Changed the {' and the '.join(changed)} of {user.username}."


def _attribute_value(kind: str, text: str) -> str | int | float | bool:
    """A value as conditions will compare it: text, a number or true/false."""
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidInput("A true/false attribute is true or false.")
        return text.lower() == "true"
    if kind == "number":
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            raise InvalidInput(f"{text[:40]!r} is not a number.") from None
    return text


async def _set_attribute(c: Console, user: User, fields: Mapping[str, str]) -> str:
    """Attributes feed conditions wherever the user is bound: ``users.write`` at ``/``."""
    await c.require(USERS_WRITE, ROOT)
    name = fields.get("name", "")
    value = _attribute_value(fields.get("type", "text"), fields.get("value", ""))
    await c.container.users.update(user.username, c.ctx, set_attributes={name: value})
    return f"Attribute {name} of {user.username} set."


async def _unset_attribute(c: Console, user: User, fields: Mapping[str, str]) -> str:
    await c.require(USERS_WRITE, ROOT)
    name = fields.get("name", "")
    await c.container.users.update(user.username, c.ctx, unset_attributes=[name])
    return f"Attribute {name} of {user.username} removed."


@router.post("/console/users/{user_id}/edit")
async def edit_user(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _edit, confirm=False)


@router.post("/console/users/{user_id}/attributes")
async def set_attribute(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _set_attribute, confirm=False)


@router.post("/console/users/{user_id}/attributes/remove")
async def unset_attribute(request: Request, user_id: str) -> Response:
    return await _act(request, user_id, _unset_attribute, confirm=False)
