"""Clients, each shown where the administrator holds ``clients.read`` at its scope, and
secret rotation: the new secret is shown once, on the page that answers the form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.clients.models import SECRET_METHODS, Client
from authgate.errors import AuthGateError, NotFound
from authgate.rbac.service import MAX_PAGE
from authgate.web.console.common import (
    CLIENTS_READ,
    CLIENTS_WRITE,
    NOT_CONFIRMED,
    Console,
    confirmed,
)
from authgate.web.console.session import enter

router = APIRouter(include_in_schema=False)


async def _listed(c: Console) -> list[tuple[Client, bool]]:
    """(client, may rotate its secret) for every client the administrator may see."""
    shown: list[tuple[Client, bool]] = []
    after: str | None = None
    while True:
        batch = await c.container.clients.page(after, MAX_PAGE)
        for client in batch:
            writable = await c.holds(CLIENTS_WRITE, client.scope)
            if writable or await c.holds(CLIENTS_READ, client.scope):
                shown.append((client, writable and client.auth_method in SECRET_METHODS))
        if len(batch) < MAX_PAGE:
            return shown
        after = batch[-1].client_id


async def _visible(c: Console, client_id: str) -> Client:
    """The client, when the administrator may see it; else as if it did not exist."""
    client = await c.container.clients.get(client_id)
    if client is not None:
        for permission in (CLIENTS_READ, CLIENTS_WRITE):
            if await c.holds(permission, client.scope):
                return client
    raise NotFound("There is no such client (or you may not see it).")


@router.get("/console/clients")
async def clients(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _clients_page(c)


async def _clients_page(
    c: Console,
    status: int = 200,
    error: str | None = None,
    rotated: tuple[str, str] | None = None,
) -> Response:
    if not c.may_somewhere(CLIENTS_READ) and not c.may_somewhere(CLIENTS_WRITE):
        return c.render("forbidden.html", 403)
    return c.render("clients.html", status, error=error, clients=await _listed(c), rotated=rotated)


@router.post("/console/clients/{client_id:path}/rotate-secret")
async def rotate_secret(request: Request, client_id: str) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form()
    if fields is None:
        return c.refused()
    if not confirmed(fields):
        return await _clients_page(c, 400, NOT_CONFIRMED)
    try:
        client = await _visible(c, client_id)
        await c.require(CLIENTS_WRITE, client.scope)
        await c.policy.check_takeover(
            c.actor, f"client:{client.client_id}", "rotating the secret of"
        )
        secret = await c.container.clients.rotate_secret(client.client_id, c.ctx)
    except AuthGateError as exc:
        return await _clients_page(c, exc.status, exc.message)
    return await _clients_page(c, rotated=(client.client_id, secret))
