"""Signing keys: the keys that sign AuthGate's tokens (public facts only, never private
material) and their rotation, as ``authgate keys rotate`` and the admin API do it.
Global objects: ``authgate:keys.read`` / ``keys.write`` at ``/``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.durations import format_duration
from authgate.errors import AuthGateError
from authgate.rbac.admin import KEYS_READ, KEYS_WRITE
from authgate.web.console.common import NOT_CONFIRMED, Console, confirmed
from authgate.web.console.session import enter, enter_form

router = APIRouter(include_in_schema=False)
PATH = "/console/keys"


@router.get(PATH)
async def keys(request: Request) -> Response:
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    return await _keys_page(c)


async def _keys_page(c: Console, status: int = 200, error: str | None = None) -> Response:
    if not await c.holds(KEYS_READ):
        return c.render("forbidden.html", 403)
    now = c.container.clock.now()
    infos = sorted(await c.container.keys.infos(), key=lambda i: (i.alg, i.created_at))
    rows = [(info, info.state(now), info.published(now)) for info in reversed(infos)]
    return c.render(
        "keys.html",
        status,
        error=error,
        rows=rows,
        propagation=format_duration(c.container.settings.key_propagation),
        may_write=await c.holds(KEYS_WRITE),
    )


@router.post(PATH + "/rotate")
async def rotate(request: Request) -> Response:
    """New keys for every algorithm. ``immediate`` (after a compromise) signs with them at
    once; otherwise after the propagation delay, so verifiers fetch them first."""
    entered = await enter_form(request)
    if isinstance(entered, Response):
        return entered
    c, fields = entered
    if not confirmed(fields):
        return await _keys_page(c, 400, NOT_CONFIRMED)
    immediate = fields.get("immediate") == "yes"
    try:
        await c.require(KEYS_WRITE)
        made = await c.container.keys.rotate(c.ctx, immediate=immediate)
    except AuthGateError as exc:
        return await _keys_page(c, exc.status, exc.message)
    when = "now" if immediate else "after the propagation delay"
    kids = ", ".join(info.kid for info in made)
    return c.done(PATH, notice=f"New signing keys {kids}: they sign {when}.")
