"""``/admin/v1/forward-auth/routes``: forward-auth rules managed at run time (spec §6).

They come after the ``[[forward_auth.routes]]`` of ``authgate.toml``, in ``position``
order (then by id). Global objects: the caller needs ``authgate:routes.read|write`` at
``/``. A change reaches this server at once and the others within a poll; decisions
cached for the old rules are dropped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field, StringConstraints
from starlette.responses import Response

from authgate.errors import InvalidInput
from authgate.forwardauth.store import RouteFields, StoredRoute
from authgate.rbac.admin import ROUTES_READ, ROUTES_WRITE
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
    PREFIX,
    AdminCaller,
    AdminRoute,
    Body,
    Cursor,
    Limit,
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

PATH = f"{PREFIX}/forward-auth/routes"
router = APIRouter(route_class=AdminRoute, tags=["forward-auth routes"])
Short = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Method = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Position = Annotated[int, Field(ge=0, le=1_000_000_000)]


class NewRoute(Body):
    """A rule as in ``authgate.toml`` (docs/forward-auth.md), plus its ``position``
    (default: after every other)."""

    path: Short
    permission: Short | None = None
    public: bool = False
    host: Short | None = None
    methods: Annotated[list[Method], Field(max_length=20)] | None = None
    audience: Short | None = None
    resource: Short | None = None
    position: Position | None = None

    def fields(self) -> RouteFields:
        return RouteFields(
            path=self.path,
            permission=self.permission,
            public=self.public,
            host=self.host,
            methods=tuple(self.methods) if self.methods is not None else None,
            audience=self.audience,
            resource=self.resource,
        )


class RouteChange(Body):
    """Absent members stay as they are; ``null`` clears an optional one (JSON merge patch,
    RFC 7396)."""

    path: Short | None = None
    permission: Short | None = None
    public: bool | None = None
    host: Short | None = None
    methods: Annotated[list[Method], Field(max_length=20)] | None = None
    audience: Short | None = None
    resource: Short | None = None
    position: Position | None = None

    def applied_to(self, current: StoredRoute) -> tuple[RouteFields, int]:
        given = self.model_fields_set
        if not given:
            raise InvalidInput("name at least one member to change")
        if "path" in given and self.path is None:
            raise InvalidInput("path cannot be removed")
        if "position" in given and self.position is None:
            raise InvalidInput("position cannot be removed")

        if "public" in given and self.public is None:
            raise InvalidInput("public is true or false")
        methods = current.methods or None
        if "methods" in given:
            methods = tuple(self.methods) if self.methods is not None else None
        fields = RouteFields(
            path=self.path if self.path is not None else current.path,
            permission=self.permission if "permission" in given else current.permission,
            public=self.public if self.public is not None else current.public,
            host=self.host if "host" in given else current.host,
            methods=methods,
            audience=self.audience if "audience" in given else current.audience,
            resource=self.resource if "resource" in given else current.resource,
        )
        return fields, self.position if self.position is not None else current.position


def _location(request: Request, route: StoredRoute) -> str:
    return url(request, f"{PATH}/{quoted(route.id)}")


@router.get("/forward-auth/routes", summary="List forward-auth routes in matching order")
async def list_routes(
    request: Request, admin: AdminCaller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    await admin.require(ROUTES_READ)
    return await paged(
        request,
        PATH,
        admin.container.forward_auth.routes.page,
        lambda route: route.key,
        StoredRoute.to_json,
        limit,
        cursor,
    )


@router.post(
    "/forward-auth/routes",
    status_code=201,
    summary="Create a forward-auth route",
    openapi_extra=body_doc(NewRoute),
)
@idempotent
async def create_route(request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROUTES_WRITE)
    body = await read_body(request, NewRoute)
    store = admin.container.forward_auth.routes
    route = await store.create(admin.ctx, body.fields(), body.position)
    return object_response(route.to_json(), 201, _location(request, route))


@router.get("/forward-auth/routes/{route_id}", summary="One forward-auth route (with an ETag)")
async def get_route(route_id: str, admin: AdminCaller) -> Response:
    await admin.require(ROUTES_READ)
    route = await admin.container.forward_auth.routes.get(path_key(route_id, "route"))
    return object_response(route.to_json())


@router.patch(
    "/forward-auth/routes/{route_id}",
    summary="Change a forward-auth route",
    openapi_extra=body_doc(RouteChange),
)
async def update_route(route_id: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROUTES_WRITE)
    store = admin.container.forward_auth.routes
    current = await store.get(path_key(route_id, "route"))
    body = await read_body(request, RouteChange)
    fields, position = body.applied_to(current)
    require_match(request, current.to_json())
    route = await store.update(
        admin.ctx,
        current.id,
        fields,
        position,
        expect=lambda stored: require_match(request, stored.to_json()),  # under the row lock
    )
    return object_response(route.to_json())


@router.delete(
    "/forward-auth/routes/{route_id}", status_code=204, summary="Delete a forward-auth route"
)
async def delete_route(route_id: str, request: Request, admin: AdminCaller) -> Response:
    await admin.require(ROUTES_WRITE)
    store = admin.container.forward_auth.routes
    current = await store.get(path_key(route_id, "route"))
    require_match(request, current.to_json())
    await store.delete(admin.ctx, current.id)
    return no_content()
