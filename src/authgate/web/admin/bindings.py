"""``/admin/v1/bindings``: who has which role on which scope. Checked at the binding's
scope: ``authgate:bindings.read`` to see it, ``authgate:bindings.write`` to create or
remove it, and creating one also needs every permission of the role there (nobody grants
what they do not hold). A binding the caller may not read answers 404 like a missing one,
so its scope is not disclosed. Bindings are immutable: remove one and create another."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, StringConstraints
from starlette.responses import Response

from authgate.errors import InvalidInput, NotFound
from authgate.rbac.admin import BINDINGS_READ, BINDINGS_WRITE
from authgate.rbac.models import Binding
from authgate.rbac.service import MAX_SCOPE, ROOT, check_scope
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

router = APIRouter(route_class=AdminRoute, tags=["bindings"])
Scope = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SCOPE + 2), AfterValidator(no_controls)
]
Filter = Annotated[str | None, Query(max_length=MAX_SCOPE + 2)]


class NewBinding(Body):
    role: Name
    member: Name  # user:<username or id> | client:<client_id> | group:<name>
    scope: Scope = ROOT
    condition: Annotated[Text, StringConstraints(max_length=4000)] | None = None


def _filter(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return no_controls(value)
    except ValueError:
        raise InvalidInput(f"{what} must not contain control characters") from None


@router.get("/bindings", summary="List bindings by id, optionally by member, role or scope")
async def list_bindings(
    request: Request,
    admin: AdminCaller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    member: Filter = None,
    role: Filter = None,
    scope: Filter = None,
) -> Response:
    """Without ``scope`` this needs ``bindings.read`` at ``/``; with it, at that scope
    (which lists the bindings made exactly there)."""
    path = check_scope(_filter(scope, "scope") or "") if scope is not None else None
    await admin.require(BINDINGS_READ, path or ROOT)
    who = _filter(member, "member")
    which = _filter(role, "role")

    async def fetch(after: str | None, count: int) -> list[Binding]:
        return await admin.container.access.list_bindings(
            after, count, member=who, role=which, scope=path
        )

    return await paged(
        request, f"{PREFIX}/bindings", fetch, lambda b: b.id, Binding.to_json, limit, cursor
    )


@router.post(
    "/bindings",
    status_code=201,
    summary="Bind a member to a role on a scope",
    openapi_extra=body_doc(NewBinding),
)
@idempotent
async def create_binding(request: Request, admin: AdminCaller) -> Response:
    body = await read_body(request, NewBinding)
    path = await admin.policy.check_bind(admin.caller, body.role, body.scope)
    binding = await admin.container.access.bind(
        admin.ctx, body.role, body.member, path, body.condition
    )
    location = url(request, f"{PREFIX}/bindings/{quoted(binding.id)}")
    return object_response(binding.to_json(), 201, location)


@router.get("/bindings/{binding_id}", summary="One binding (with an ETag)")
async def get_binding(binding_id: str, admin: AdminCaller) -> Response:
    binding = await _visible(admin, binding_id, BINDINGS_READ)
    return object_response(binding.to_json())


@router.delete("/bindings/{binding_id}", status_code=204, summary="Remove a binding")
async def delete_binding(binding_id: str, request: Request, admin: AdminCaller) -> Response:
    binding = await _visible(admin, binding_id, BINDINGS_READ, BINDINGS_WRITE)
    await admin.policy.check_unbind(admin.caller, binding)
    require_match(request, binding.to_json())
    await admin.container.access.unbind(admin.ctx, binding.id)
    return no_content()


async def _visible(admin: Admin, binding_id: str, *permissions: str) -> Binding:
    """The binding, if the caller holds one of ``permissions`` at its scope; else 404 as
    if it did not exist."""
    key = path_key(binding_id, "binding with id")
    binding = await admin.container.access.get_binding(key)
    for permission in permissions:
        if await admin.policy.holds(admin.caller, permission, binding.scope):
            return binding
    raise NotFound(f"no binding with id {key!r}")
