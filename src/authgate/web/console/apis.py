"""Protected APIs (resource servers) and the permissions they declare: listed a page at a
time, registered, and given more permissions. Global objects, as in the admin API:
``authgate:apis.read`` at ``/`` shows them, ``authgate:apis.write`` there changes them."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.apis.models import JWT, TOKEN_FORMATS, Api
from authgate.errors import AuthGateError, Conflict, InvalidInput, NotFound
from authgate.rbac.admin import APIS_READ, APIS_WRITE
from authgate.web.console.common import (
    Console,
    Listing,
    one_page,
)
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)
PATH = "/console/apis"


@router.get(PATH)
async def apis(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _apis_page(c)


async def _apis_page(
    c: Console, status: int = 200, error: str | None = None, given: dict[str, str] | None = None
) -> Response:
    if not await c.holds(APIS_READ):
        return c.render("forbidden.html", 403)
    listed: Listing[Api] = Listing([], None)
    try:
        listed = await one_page(c.request, PATH, c.container.apis.page, lambda api: api.audience)
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    return c.render(
        "apis.html",
        status,
        error=error,
        apis=listed.items,
        next_url=listed.next_url,
        formats=TOKEN_FORMATS,
        given=given or {"token_format": JWT},
        may_write=await c.holds(APIS_WRITE),
    )


@router.post(PATH)
async def register_api(request: Request) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        await c.require(APIS_WRITE)
        api = await c.container.apis.create(
            c.ctx,
            audience=fields.get("audience", ""),
            name=fields.get("name", ""),
            permissions=fields.get("permissions", "").split(),
            token_format=fields.get("token_format") or JWT,
        )
    except AuthGateError as exc:
        return await _apis_page(c, exc.status, exc.message, dict(fields))
    return c.done(PATH, notice=f"API {api.name} ({api.audience}) registered.")


def _unchanged(read: tuple[str, ...], stored: Api) -> None:
    """Another administrator's change between the read and the write would be lost."""
    if stored.permissions != read:
        raise Conflict("The API changed meanwhile; look at its permissions and add again.")


@router.post(f"{PATH}/permissions")
async def add_permissions(request: Request) -> Response:
    """The API's list with the new permissions appended (as the admin API's PATCH, which
    sends the whole list)."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    added = fields.get("permissions", "").split()
    try:
        await c.require(APIS_WRITE)
        api = await c.container.apis.get(fields.get("audience", ""))
        if api is None:
            raise NotFound("There is no API with that audience.")
        if not added:
            raise InvalidInput("Name at least one permission to add.")
        new = [p for p in dict.fromkeys(added) if p not in api.permissions]
        if new:
            await c.container.apis.update(
                c.ctx,
                api.audience,
                permissions=[*api.permissions, *new],
                expect=partial(_unchanged, api.permissions),  # under the row lock
            )
    except AuthGateError as exc:
        return await _apis_page(c, exc.status, exc.message)
    what = ", ".join(new) if new else "nothing new"
    return c.done(PATH, notice=f"Added {what} to {api.name}.")
