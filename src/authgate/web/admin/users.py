"""``/admin/v1/users``: accounts, checked at the scope each user lives under.

``authgate:users.read`` at a user's scope shows it (else 404, as if it did not exist);
``authgate:users.write`` there changes it. Creating or moving a user needs
``users.write`` at the new scope too, so a scoped administrator keeps what they manage
under their scope. Attributes and the e-mail address feed conditions wherever the user
is bound, so changing them needs ``users.write`` at ``/`` (as the ``/attributes``
sub-resource always has). Taking over an account (setting its password, removing its
second factor) hands the caller everything the user holds: that needs each of the user's
permissions where it is held (nobody gains what they do not hold). So does acting
against the account (disabling, enabling, deleting it, ending its sessions), so a scoped
administrator cannot lock out someone who holds more than they do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, Field, StringConstraints
from starlette.responses import Response

from authgate.accounts.models import User
from authgate.accounts.users import MAX_ATTR_VALUE, MAX_ATTRIBUTES
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import USERS_READ, USERS_WRITE
from authgate.rbac.service import MAX_SCOPE, ROOT, check_scope
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
    no_content,
    no_controls,
    object_response,
    paged,
    path_key,
    quoted,
    read_body,
    require_match,
    url,
)
from authgate.web.admin.idempotency import idempotent

router = APIRouter(route_class=AdminRoute, tags=["users"])
#: Integers beyond this lose precision in JSON readers that use doubles (RFC 8259 §6).
MAX_SAFE_INTEGER = 2**53 - 1
MAX_PASSWORD = 1024
_PAGE = 500
#: Where an object lives, in a body; and the ``scope`` filter of a list.
Scope = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SCOPE + 2), AfterValidator(no_controls)
]
Filter = Annotated[str | None, Query(max_length=MAX_SCOPE + 2, description="this scope and below")]


def _safe_integer(value: int | float | bool | str) -> int | float | bool | str:
    if type(value) is int and abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"integers must lie within ±{MAX_SAFE_INTEGER}")
    return value


Value = Annotated[
    Annotated[Text, StringConstraints(max_length=MAX_ATTR_VALUE)] | bool | int | float,
    AfterValidator(_safe_integer),
]
Attributes = Annotated[dict[Name, Value], Field(max_length=MAX_ATTRIBUTES)]
Email = Annotated[Text, StringConstraints(min_length=1, max_length=320)]
Password = Annotated[Text, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]


class AttributeChange(Body):
    """``set`` adds or replaces attributes; ``unset`` removes them (each must exist)."""

    assign: Attributes = Field(default_factory=dict, alias="set")
    unset: Annotated[list[Name], Field(max_length=MAX_ATTRIBUTES)] = []


class NewUser(Body):
    username: Name
    email: Email | None = None
    attributes: Attributes = {}
    scope: Scope = ROOT
    password: Password | None = None


class UserChange(Body):
    """Absent (or null) members stay as they are."""

    email: Email | None = None
    attributes: AttributeChange | None = None
    scope: Scope | None = None


class PasswordReset(Body):
    """Either a new ``password`` (checked by the password policy) or ``generate: true``."""

    password: Password | None = None
    generate: bool = False


def _attributes(user: User) -> dict[str, Any]:
    return {"user": user.id, "attributes": dict(user.attributes)}


def _location(request: Request, user: User) -> str:
    return url(request, f"{PREFIX}/users/{quoted(user.id)}")


async def _user(admin: Admin, key: str) -> User:
    """By id, else by username (as decisions name users, spec §6)."""
    users = admin.container.users
    ident = path_key(key, "user with id")
    found = await users.get_by_id(ident)
    if found is not None:
        return found
    try:
        return await users.get(ident)
    except (NotFound, InvalidInput):
        raise NotFound(f"no user with id {ident!r}") from None


async def _visible(admin: Admin, key: str) -> User:
    """The user, when the caller may read or change it where it lives; else 404 as if it
    did not exist, so its scope is not disclosed."""
    user = await _user(admin, key)
    for permission in (USERS_READ, USERS_WRITE):
        if await admin.policy.holds(admin.caller, permission, user.scope):
            return user
    raise NotFound(f"no user with id {path_key(key, 'user with id')!r}")


async def _writable(admin: Admin, key: str) -> User:
    user = await _visible(admin, key)
    await admin.require(USERS_WRITE, user.scope)
    return user


def _check_attribute_change(change: AttributeChange) -> None:
    if not change.assign and not change.unset:
        raise InvalidInput("name at least one attribute to set or unset")
    both = sorted(set(change.assign) & set(change.unset))
    if both:
        raise InvalidInput(f"attributes both set and unset: {', '.join(both)}")


# -- shared with the clients resource ----------------------------------------------------


def query_text(value: str | None, what: str = "q") -> str | None:
    if value is None:
        return None
    try:
        return no_controls(value)
    except ValueError:
        raise InvalidInput(f"{what} must not contain control characters") from None


async def list_scope(admin: Admin, permission: str, scope: str | None) -> str | None:
    """The checked ``scope`` filter, after ``permission`` is found held there (at ``/``
    without one)."""
    path = check_scope(query_text(scope, "scope") or "") if scope is not None else None
    await admin.require(permission, path or ROOT)
    return path


# -- the collection -----------------------------------------------------------------------


@router.get("/users", summary="List users by id, optionally by name or e-mail prefix and scope")
async def list_users(
    request: Request,
    admin: AdminCaller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=320, description="username or e-mail prefix")] = None,
    scope: Filter = None,
) -> Response:
    """Without ``scope`` this needs ``users.read`` at ``/``; with it, at that scope (which
    lists the users living there and below)."""
    path = await list_scope(admin, USERS_READ, scope)
    prefix = query_text(q)

    async def fetch(after: str | None, count: int) -> list[User]:
        return list(await admin.container.users.page(after, count, q=prefix, scope=path))

    return await paged(
        request, f"{PREFIX}/users", fetch, lambda u: u.id, User.to_json, limit, cursor
    )


@router.post("/users", status_code=201, summary="Create a user", openapi_extra=body_doc(NewUser))
@idempotent
async def create_user(request: Request, admin: AdminCaller) -> Response:
    """Needs ``users.write`` at the new user's scope (and at ``/`` to give attributes)."""
    body = await read_body(request, NewUser)
    path = check_scope(body.scope)
    await admin.require(USERS_WRITE, path)
    if body.attributes:
        await admin.require(USERS_WRITE, ROOT)
    user = await admin.container.users.create(
        body.username,
        admin.ctx,
        password=body.password,
        email=body.email,
        attributes=body.attributes,
        scope=path,
    )
    return object_response(user.to_json(), 201, _location(request, user))


# -- one user -----------------------------------------------------------------------------


@router.get("/users/{user_id}", summary="One user (with an ETag)")
async def get_user(user_id: str, admin: AdminCaller) -> Response:
    return object_response((await _visible(admin, user_id)).to_json())


@router.patch(
    "/users/{user_id}",
    summary="Change a user's e-mail, attributes or scope",
    openapi_extra=body_doc(UserChange),
)
async def update_user(user_id: str, request: Request, admin: AdminCaller) -> Response:
    user = await _writable(admin, user_id)
    body = await read_body(request, UserChange)
    if body.email is None and body.attributes is None and body.scope is None:
        raise InvalidInput("name at least one of email, attributes, scope")
    if body.attributes is not None:
        _check_attribute_change(body.attributes)
    path = check_scope(body.scope) if body.scope is not None else None
    require_match(request, user.to_json())
    if path is not None:
        await admin.require(USERS_WRITE, path)  # moving needs both the old and the new scope
    if body.attributes is not None or body.email is not None:
        await admin.require(USERS_WRITE, ROOT)  # conditions read both wherever it is bound
    change = body.attributes or AttributeChange()
    updated = await admin.container.users.update(
        user.username,
        admin.ctx,
        email=body.email,
        set_attributes=change.assign,
        unset_attributes=change.unset,
        scope=path,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(updated.to_json())


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user")
async def delete_user(user_id: str, request: Request, admin: AdminCaller) -> Response:
    user = await _writable(admin, user_id)
    require_match(request, user.to_json())
    await admin.policy.check_takeover(admin.caller, f"user:{user.id}", "deleting")
    await admin.container.users.delete(
        user.username, admin.ctx, expect=lambda stored: require_match(request, stored.to_json())
    )
    return no_content()


async def _set_disabled(user_id: str, request: Request, admin: Admin, disabled: bool) -> Response:
    user = await _writable(admin, user_id)
    require_match(request, user.to_json())
    what = "disabling" if disabled else "enabling"
    await admin.policy.check_takeover(admin.caller, f"user:{user.id}", what)
    changed = await admin.container.users.set_disabled(
        user.username,
        disabled,
        admin.ctx,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(changed.to_json())


@router.post("/users/{user_id}/disable", summary="Disable a user: sessions and tokens end")
async def disable_user(user_id: str, request: Request, admin: AdminCaller) -> Response:
    return await _set_disabled(user_id, request, admin, True)


@router.post("/users/{user_id}/enable", summary="Enable a disabled user")
async def enable_user(user_id: str, request: Request, admin: AdminCaller) -> Response:
    return await _set_disabled(user_id, request, admin, False)


@router.post(
    "/users/{user_id}/password",
    summary="Set a user's password, or generate one shown only in this answer",
    openapi_extra=body_doc(PasswordReset),
)
async def reset_password(user_id: str, request: Request, admin: AdminCaller) -> Response:
    user = await _writable(admin, user_id)
    body = await read_body(request, PasswordReset)
    if (body.password is None) == (not body.generate):
        raise InvalidInput('send either "password" or "generate": true')
    await admin.policy.check_takeover(admin.caller, f"user:{user.id}", "setting the password of")
    users = admin.container.users
    generated = await users.reset_password(user.username, admin.ctx, body.password)
    if generated is None:
        return no_content()
    answer = {"user": user.id, "password": generated}
    return Response(canonical(answer), 200, dict(NO_STORE), media_type="application/json")


@router.delete("/users/{user_id}/mfa", status_code=204, summary="Remove a user's second factor")
async def reset_mfa(user_id: str, admin: AdminCaller) -> Response:
    """The user logs in with the password alone until they enrol again."""
    user = await _writable(admin, user_id)
    await admin.policy.check_takeover(
        admin.caller, f"user:{user.id}", "removing the second factor of"
    )
    await admin.container.mfa.reset(user.id, admin.ctx)
    return no_content()


@router.get("/users/{user_id}/sessions", summary="A user's login sessions (never their secrets)")
async def list_sessions(user_id: str, admin: AdminCaller) -> Response:
    user = await _visible(admin, user_id)
    sessions = await admin.container.users.sessions(user.id)
    body = {"items": [s.to_json() for s in sessions], "next": None}
    return Response(canonical(body), 200, dict(NO_STORE), media_type="application/json")


@router.delete("/users/{user_id}/sessions", status_code=204, summary="Sign a user out everywhere")
async def end_sessions(user_id: str, admin: AdminCaller) -> Response:
    user = await _writable(admin, user_id)
    await admin.policy.check_takeover(admin.caller, f"user:{user.id}", "signing out")
    await admin.container.users.end_sessions(user.username, admin.ctx)
    return no_content()


# -- attributes (checked at /: conditions read them wherever the user is bound) -----------


@router.get("/users/{user_id}/attributes", summary="A user's attributes (with an ETag)")
async def get_attributes(user_id: str, admin: AdminCaller) -> Response:
    await admin.require(USERS_READ)
    return object_response(_attributes(await _user(admin, user_id)))


@router.patch(
    "/users/{user_id}/attributes",
    summary="Set or unset some of a user's attributes",
    openapi_extra=body_doc(AttributeChange),
)
async def update_attributes(user_id: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(USERS_WRITE)
    user = await _user(admin, user_id)
    body = await read_body(request, AttributeChange)
    _check_attribute_change(body)
    require_match(request, _attributes(user))
    updated = await admin.container.users.update(
        user.username,
        admin.ctx,
        set_attributes=body.assign,
        unset_attributes=body.unset,
        expect=lambda stored: require_match(request, _attributes(stored)),  # under the lock
    )
    return object_response(_attributes(updated))
