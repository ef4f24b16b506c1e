"""Clients, each shown where the administrator holds ``clients.read`` at its scope, a page
at a time; registering one, disabling or enabling it, and rotating its secret, checked as
the admin API checks them.

A new secret is shown once: the action answers with a redirect (POST → 303 → GET) and
the secret waits for that one page in a sealed, short-lived cookie (``cookies.py``), so
reloading the page neither shows it again nor rotates again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.clients.models import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    SECRET_METHODS,
    Client,
)
from authgate.durations import format_duration, parse_duration
from authgate.errors import AuthGateError, Conflict, InvalidInput, NotFound
from authgate.rbac.admin import CLIENTS_READ, CLIENTS_WRITE
from authgate.rbac.service import MAX_PAGE, ROOT, check_scope
from authgate.web.console.common import (
    NOT_CONFIRMED,
    Console,
    Listing,
    confirmed,
    next_link,
    page_after,
    page_limit,
)
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)
PATH = "/console/clients"
#: The grant types the registration form offers (others: the CLI or the admin API).
OFFERED_GRANTS = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)


class Shown:
    """A client with what the administrator may do to it."""

    def __init__(self, client: Client, writable: bool) -> None:
        self.client = client
        self.may_write = writable
        self.may_rotate = writable and client.auth_method in SECRET_METHODS


async def _listed(c: Console) -> Listing[Shown]:
    """One page of the clients the administrator may see, after the cursor: the service
    is read in batches and each client checked at its own scope."""
    limit = page_limit(c.request)
    after = page_after(c.request)
    shown: list[Shown] = []
    while len(shown) <= limit:
        batch = await c.container.clients.page(after, MAX_PAGE)
        for client in batch:
            # As ``require_client_change``: a first-party client is changed from ``/`` only.
            writable = await c.holds(CLIENTS_WRITE, ROOT if client.first_party else client.scope)
            if writable or await c.holds(CLIENTS_READ, client.scope):
                shown.append(Shown(client, writable))
                if len(shown) > limit:
                    break
        if len(batch) < MAX_PAGE:
            break
        after = batch[-1].client_id
    if len(shown) <= limit:
        return Listing(shown, None)
    last = shown[limit - 1].client.client_id
    return Listing(shown[:limit], next_link(c.request, PATH, last))


async def _visible(c: Console, client_id: str) -> Client:
    """The client, when the administrator may see it; else as if it did not exist."""
    client = await c.container.clients.get(client_id)
    if client is not None:
        for permission in (CLIENTS_READ, CLIENTS_WRITE):
            if await c.holds(permission, client.scope):
                return client
    raise NotFound("There is no such client (or you may not see it).")


async def _writable(c: Console, client_id: str) -> Client:
    client = await _visible(c, client_id)
    await c.policy.require_client_change(c.actor, client.scope, client.first_party)
    return client


@router.get(PATH)
async def clients(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _clients_page(c)


async def _clients_page(
    c: Console,
    status: int = 200,
    error: str | None = None,
    given: Mapping[str, str] | None = None,
) -> Response:
    if not c.may_somewhere(CLIENTS_READ) and not c.may_somewhere(CLIENTS_WRITE):
        return c.render("forbidden.html", 403)
    listed: Listing[Shown] = Listing([], None)
    try:
        listed = await _listed(c)
    except AuthGateError as exc:
        status, error = exc.status, error or exc.message
    secret = c.result.get("secret")
    return c.render(
        "clients.html",
        status,
        error=error,
        clients=listed.items,
        next_url=listed.next_url,
        secret=secret if isinstance(secret, list) and len(secret) == 2 else None,
        grants=OFFERED_GRANTS,
        given=given or {},
        may_create=c.may_somewhere(CLIENTS_WRITE),
    )


# -- registering --------------------------------------------------------------------------


@router.post(PATH)
async def register_client(request: Request) -> Response:
    """Needs ``clients.write`` at the new client's scope, as the admin API."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    form = await request.form()  # parsed once, by ``c.form``
    grant_types = [g for g in form.getlist("grant_type") if isinstance(g, str)]
    try:
        path = check_scope(fields.get("scope") or ROOT)
        await c.require(CLIENTS_WRITE, path)
        client, secret = await c.container.clients.create(
            c.ctx,
            name=fields.get("name", ""),
            public=fields.get("kind") == "public",
            grant_types=grant_types or None,
            redirect_uris=fields.get("redirect_uris", "").split(),
            scopes=fields.get("scopes", "").split(),
            scope=path,
        )
    except AuthGateError as exc:
        return await _clients_page(c, exc.status, exc.message, fields)
    notice = f"Client {client.name} registered, with the id {client.client_id}."
    if secret is None:
        return c.done(PATH, notice=notice)
    return c.done(PATH, notice=notice, secret=[client.client_id, secret])


# -- one client ---------------------------------------------------------------------------


#: What an action on one client leaves for the next page: a notice, perhaps a new secret.
ClientAction = Callable[[Console, Client, Mapping[str, str]], Awaitable[dict[str, object]]]


async def _act(
    request: Request, client_id: str, action: ClientAction, *, confirm: bool
) -> Response:
    """``clients.write`` where the client lives (``_writable``), the ticked box when
    ``confirm``, the rest inside ``action``; then POST → 303 → GET of the clients page."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    try:
        client = await _writable(c, client_id)
        if confirm and not confirmed(fields):
            return await _clients_page(c, 400, NOT_CONFIRMED)
        result = await action(c, client, fields)
    except AuthGateError as exc:
        return await _clients_page(c, exc.status, exc.message)
    return c.done(PATH, **result)


async def _rotate(c: Console, client: Client, fields: Mapping[str, str]) -> dict[str, object]:
    """Everything the client holds, where it holds it: whoever has the secret acts as
    the client."""
    overlap = _overlap(fields.get("overlap", ""))
    await c.policy.check_takeover(c.actor, f"client:{client.client_id}", "rotating the secret of")
    secret = await c.container.clients.rotate_secret(client.client_id, c.ctx, overlap=overlap)
    if overlap:
        kept = format_duration(overlap)
        notice = f"The secret of {client.name} is replaced: the old one works for {kept} more."
    else:
        notice = f"The secret of {client.name} is replaced: the old one has stopped working."
    return {"notice": notice, "secret": [client.client_id, secret]}


def _overlap(text: str) -> timedelta:
    """How long the current secret keeps working (``10m``, ``2h``; empty: not at all)."""
    if not text or text == "0":
        return timedelta(0)
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"Overlap: {exc}") from None


async def _edit(c: Console, client: Client, fields: Mapping[str, str]) -> dict[str, object]:
    """The name, redirect URIs and requested scopes, as the admin API's PATCH with those
    members."""
    updated = await c.container.clients.update(
        client.client_id,
        c.ctx,
        expect=partial(_client_unchanged, client),
        name=fields.get("name", ""),
        redirect_uris=fields.get("redirect_uris", "").split(),
        post_logout_redirect_uris=fields.get("post_logout_redirect_uris", "").split(),
        scopes=fields.get("scopes", "").split(),
    )
    return {"notice": f"Client {updated.name} changed."}


def _client_unchanged(read: Client, stored: Client) -> None:
    """Another administrator's change between the page's read and this write would be
    lost (the form sends whole lists)."""
    if stored != read:
        raise Conflict("The client changed meanwhile; look at it again and repeat the change.")


async def _disable(c: Console, client: Client, fields: Mapping[str, str]) -> dict[str, object]:
    """As deleting: nobody locks out a client holding more than they do."""
    await c.policy.check_takeover(c.actor, f"client:{client.client_id}", "disabling")
    await c.container.clients.set_disabled(client.client_id, True, c.ctx)
    return {"notice": f"Client {client.name} is disabled: its grants are revoked."}


async def _enable(c: Console, client: Client, fields: Mapping[str, str]) -> dict[str, object]:
    await c.policy.check_takeover(c.actor, f"client:{client.client_id}", "enabling")
    await c.container.clients.set_disabled(client.client_id, False, c.ctx)
    return {"notice": f"Client {client.name} is enabled again (revoked grants stay revoked)."}


async def _delete(c: Console, client: Client, fields: Mapping[str, str]) -> dict[str, object]:
    """Its codes, grants, tokens, consents and bindings go with it."""
    await c.policy.check_takeover(c.actor, f"client:{client.client_id}", "deleting")
    await c.container.clients.delete(client.client_id, c.ctx)
    return {"notice": f"Client {client.name} deleted, with its grants and bindings."}


@router.post(PATH + "/{client_id:path}/rotate-secret")
async def rotate_secret(request: Request, client_id: str) -> Response:
    return await _act(request, client_id, _rotate, confirm=True)


@router.post(PATH + "/{client_id:path}/edit")
async def edit_client(request: Request, client_id: str) -> Response:
    return await _act(request, client_id, _edit, confirm=False)


@router.post(PATH + "/{client_id:path}/disable")
async def disable_client(request: Request, client_id: str) -> Response:
    return await _act(request, client_id, _disable, confirm=True)


@router.post(PATH + "/{client_id:path}/enable")
async def enable_client(request: Request, client_id: str) -> Response:
    return await _act(request, client_id, _enable, confirm=False)


@router.post(PATH + "/{client_id:path}/delete")
async def delete_client(request: Request, client_id: str) -> Response:
    return await _act(request, client_id, _delete, confirm=True)
