"""Roles (with what they inherit) and bindings. Creating a role or a binding goes through
the admin policy's escalation rules: nobody hands out what they do not hold."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.errors import AuthGateError, Conflict, InvalidInput
from authgate.rbac.admin import BINDINGS_READ, BINDINGS_WRITE, ROLES_READ, ROLES_WRITE
from authgate.rbac.models import Binding, Role
from authgate.rbac.service import ADMIN_ROLE, MAX_PAGE, ROOT
from authgate.web.console.common import (
    NOT_CONFIRMED,
    Console,
    Listing,
    confirmed,
    one_page,
)
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)
MAX_CONDITION = 4000  # as the admin API


# -- roles --------------------------------------------------------------------------------


@router.get("/console/roles")
async def roles(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _roles_page(c)


async def _roles_page(
    c: Console, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    if not await c.holds(ROLES_READ):
        return c.render("forbidden.html", 403)
    listed: Listing[Role] = Listing([], None)
    try:
        listed = await one_page(
            c.request, "/console/roles", c.container.access.list_roles, lambda r: r.name
        )
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    effective = {r.name: sorted(await c.policy.role_permissions(r.name)) for r in listed.items}
    return c.render(
        "roles.html",
        status,
        error=error,
        notice=notice,
        roles=listed.items,
        next_url=listed.next_url,
        effective=effective,
        builtin=ADMIN_ROLE,
        may_write=await c.holds(ROLES_WRITE),
    )


@router.post("/console/roles")
async def create_role(request: Request) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    name = fields.get("name", "")
    permissions = fields.get("permissions", "").split()
    inherits = fields.get("inherits", "").split()
    try:
        await c.policy.check_new_role(c.actor, name, permissions, inherits)
        await c.container.access.create_role(c.ctx, name, permissions, inherits)
    except AuthGateError as exc:
        return await _roles_page(c, exc.status, exc.message)
    return await _roles_page(c, 201, notice=f"Role {name} created.")


@router.post("/console/roles/{name}/edit")
async def edit_role(request: Request, name: str) -> Response:
    """New own permissions and parents for a role, as the admin API's PATCH: nobody may
    make a role hold what they do not hold at ``/`` (``check_role_change``), and a
    change made meanwhile by someone else is not written over (409)."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    permissions = fields.get("permissions", "").split()
    inherits = fields.get("inherits", "").split()
    try:
        await c.require(ROLES_WRITE)
        current = await c.container.access.get_role(name)
        await c.policy.check_role_change(
            c.actor, current.name, permissions=permissions, inherits=inherits
        )
        await c.container.access.update_role(
            c.ctx,
            current.name,
            permissions=permissions,
            inherits=inherits,
            expect=partial(_role_unchanged, current),
        )
    except AuthGateError as exc:
        return await _roles_page(c, exc.status, exc.message)
    return c.done("/console/roles", notice=f"Role {name} changed.")


def _role_unchanged(read: Role, stored: Role) -> None:
    if (stored.permissions, stored.inherits) != (read.permissions, read.inherits):
        raise Conflict("The role changed meanwhile; look at it again and repeat the change.")


@router.post("/console/roles/{name}/delete")
async def delete_role(request: Request, name: str) -> Response:
    """Its bindings go with it; roles inheriting it stop inheriting it."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _roles_page(c, 400, NOT_CONFIRMED)
    try:
        await c.require(ROLES_WRITE)
        await c.container.access.delete_role(c.ctx, name)
    except AuthGateError as exc:
        return await _roles_page(c, exc.status, exc.message)
    return c.done("/console/roles", notice=f"Role {name} deleted, with its bindings.")


# -- bindings -----------------------------------------------------------------------------


@router.get("/console/bindings")
async def bindings(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _bindings_page(c)


async def _bindings_page(
    c: Console, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    """The bindings the administrator may read at their scope, a page of bindings at a
    time (in id order; a page shows those of its bindings that may be read)."""
    if not c.may_somewhere(BINDINGS_READ):
        return c.render("forbidden.html", 403)
    listed: Listing[Binding] = Listing([], None)
    try:
        listed = await one_page(
            c.request, "/console/bindings", c.container.access.list_bindings, lambda b: b.id
        )
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    shown = [b for b in listed.items if await c.holds(BINDINGS_READ, b.scope)]
    role_names = [r.name for r in await c.container.access.list_roles(None, MAX_PAGE)]
    return c.render(
        "bindings.html",
        status,
        error=error,
        notice=notice,
        bindings=shown,
        next_url=listed.next_url,
        role_names=role_names,
        may_write=c.may_somewhere(BINDINGS_WRITE),
    )


@router.post("/console/bindings")
async def create_binding(request: Request) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    role = fields.get("role", "")
    member = fields.get("member", "")
    condition = fields.get("condition") or None
    try:
        if condition is not None and len(condition) > MAX_CONDITION:
            raise InvalidInput(f"A condition is at most {MAX_CONDITION} characters.")
        path = await c.policy.check_bind(c.actor, role, fields.get("scope") or ROOT)
        made = await c.container.access.bind(c.ctx, role, member, path, condition)
    except AuthGateError as exc:
        return await _bindings_page(c, exc.status, exc.message)
    when = " when the condition holds" if condition else ""
    notice = f"Bound {role} to {member} on {path}{when} ({made.id})."
    return await _bindings_page(c, 201, notice=notice)


@router.post("/console/bindings/{binding_id}/delete")
async def delete_binding(request: Request, binding_id: str) -> Response:
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _bindings_page(c, 400, NOT_CONFIRMED)
    try:
        binding = await c.container.access.get_binding(binding_id[:100])
        await c.policy.check_unbind(c.actor, binding)
        await c.container.access.unbind(c.ctx, binding.id)
    except AuthGateError as exc:
        return await _bindings_page(c, exc.status, exc.message)
    return await _bindings_page(c, notice=f"Binding {binding.id} removed.")
