"""``/admin/v1/users/{id}/attributes``: the free-form attributes conditions read as
``subject.properties`` (spec §1, §6). Users are global objects: the caller needs
``authgate:users.read|write`` at ``/``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, Field, StringConstraints
from starlette.responses import Response

from authgate.accounts.models import User
from authgate.accounts.users import MAX_ATTR_VALUE, MAX_ATTRIBUTES
from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import USERS_READ, USERS_WRITE
from authgate.web.admin.conventions import (
    Admin,
    AdminCaller,
    AdminRoute,
    Body,
    Name,
    Text,
    body_doc,
    object_response,
    path_key,
    read_body,
    require_match,
)

router = APIRouter(route_class=AdminRoute, tags=["users"])
#: Integers beyond this lose precision in JSON readers that use doubles (RFC 8259 §6).
MAX_SAFE_INTEGER = 2**53 - 1


def _safe_integer(value: int | float | bool | str) -> int | float | bool | str:
    if type(value) is int and abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"integers must lie within ±{MAX_SAFE_INTEGER}")
    return value


Value = Annotated[
    Annotated[Text, StringConstraints(max_length=MAX_ATTR_VALUE)] | bool | int | float,
    AfterValidator(_safe_integer),
]


class AttributeChange(Body):
    """``set`` adds or replaces attributes; ``unset`` removes them (each must exist)."""

    assign: Annotated[dict[Name, Value], Field(max_length=MAX_ATTRIBUTES)] = Field(
        default_factory=dict, alias="set"
    )
    unset: Annotated[list[Name], Field(max_length=MAX_ATTRIBUTES)] = []


def _attributes(user: User) -> dict[str, Any]:
    return {"user": user.id, "attributes": dict(user.attributes)}


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
    if not body.assign and not body.unset:
        raise InvalidInput("name at least one attribute to set or unset")
    both = sorted(set(body.assign) & set(body.unset))
    if both:
        raise InvalidInput(f"attributes both set and unset: {', '.join(both)}")
    require_match(request, _attributes(user))
    updated = await admin.container.users.update(
        user.username, admin.ctx, set_attributes=body.assign, unset_attributes=body.unset
    )
    return object_response(_attributes(updated))
