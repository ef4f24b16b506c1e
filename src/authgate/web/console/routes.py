"""Forward-auth rules (spec §6, docs/forward-auth.md): those of ``authgate.toml``, shown
read-only and matched first, then those managed here and through the admin API, in
position order. Global objects: ``authgate:routes.read`` / ``routes.write`` at ``/``."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.errors import AuthGateError, InvalidInput
from authgate.forwardauth.store import RouteFields, StoredRoute
from authgate.rbac.admin import ROUTES_READ, ROUTES_WRITE
from authgate.web.console.common import NOT_CONFIRMED, Console, Listing, confirmed, one_page
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)
PATH = "/console/routes"
MAX_FIELD = 1000  # as the admin API


@router.get(PATH)
async def routes(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _routes_page(c)


async def _routes_page(
    c: Console,
    status: int = 200,
    error: str | None = None,
    given: Mapping[str, str] | None = None,
) -> Response:
    if not await c.holds(ROUTES_READ):
        return c.render("forbidden.html", 403)
    store = c.container.forward_auth.routes
    listed: Listing[StoredRoute] = Listing([], None)
    try:
        listed = await one_page(c.request, PATH, store.page, lambda route: route.key)
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    return c.render(
        "routes.html",
        status,
        error=error,
        configured=c.container.forward_auth.configured,
        routes=listed.items,
        next_url=listed.next_url,
        given=given or {},
        may_write=await c.holds(ROUTES_WRITE),
    )


def _fields(form: Mapping[str, str]) -> RouteFields:
    """The form as a rule; checked by the store (a bad rule is refused with the reason)."""

    def optional(name: str) -> str | None:
        value = form.get(name, "")
        if len(value) > MAX_FIELD:
            raise InvalidInput(f"The {name} is at most {MAX_FIELD} characters.")
        return value or None

    methods = tuple((optional("methods") or "").upper().split()) or None
    public = form.get("public") == "yes"
    return RouteFields(
        path=optional("path") or "",
        permission=None if public else optional("permission"),
        public=public,
        host=optional("host"),
        methods=methods,
        audience=optional("audience"),
        resource=optional("resource"),
    )


@router.post(PATH)
async def create_route(request: Request) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        await c.require(ROUTES_WRITE)
        route = await c.container.forward_auth.routes.create(c.ctx, _fields(fields), None)
    except AuthGateError as exc:
        return await _routes_page(c, exc.status, exc.message, fields)
    return c.done(PATH, notice=f"Rule {route.id} added for {route.path}; it applies at once.")


@router.post(PATH + "/{route_id}/delete")
async def delete_route(request: Request, route_id: str) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _routes_page(c, 400, NOT_CONFIRMED)
    try:
        await c.require(ROUTES_WRITE)
        await c.container.forward_auth.routes.delete(c.ctx, route_id[:100])
    except AuthGateError as exc:
        return await _routes_page(c, exc.status, exc.message)
    return c.done(PATH, notice=f"Rule {route_id[:100]} deleted.")
