"""``/admin/v1/signing-keys``: the keys that sign AuthGate's tokens, and their rotation
(as ``authgate keys rotate``). Never any private material: a key is its id, algorithm,
state and dates. Global objects: ``authgate:keys.read|write`` at ``/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.keys.service import KeyInfo
from authgate.rbac.admin import KEYS_READ, KEYS_WRITE
from authgate.web.admin.conventions import (
    DEFAULT_LIMIT,
    NO_STORE,
    PREFIX,
    AdminCaller,
    AdminRoute,
    Body,
    Cursor,
    Limit,
    body_doc,
    canonical,
    paged,
    read_body,
    url,
)
from authgate.web.admin.idempotency import idempotent

router = APIRouter(route_class=AdminRoute, tags=["signing-keys"])


class Rotation(Body):
    immediate: bool = False
    """Sign with the new keys at once (after a compromise) instead of after the
    propagation delay; verifiers holding an old JWKS then refetch it."""


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _render(now: datetime) -> Any:
    def render(info: KeyInfo) -> dict[str, Any]:
        return {
            "kid": info.kid,
            "alg": info.alg,
            "state": info.state(now),
            "published": info.published(now),
            "created_at": _instant(info.created_at),
            "activates_at": _instant(info.activates_at),
            "retires_at": _instant(info.retires_at),
            "publish_until": _instant(info.publish_until),
        }

    return render


@router.get("/signing-keys", summary="List signing keys by kid (public facts only)")
async def list_signing_keys(
    request: Request, admin: AdminCaller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    await admin.require(KEYS_READ)

    async def fetch(after: str | None, count: int) -> list[KeyInfo]:
        infos = sorted(await admin.container.keys.infos(), key=lambda i: i.kid)
        return [i for i in infos if after is None or i.kid > after][:count]

    return await paged(
        request,
        f"{PREFIX}/signing-keys",
        fetch,
        lambda info: info.kid,
        _render(admin.container.clock.now()),
        limit,
        cursor,
    )


_ROTATE_DOC = body_doc(Rotation)
_ROTATE_DOC["requestBody"]["required"] = False


@router.post(
    "/signing-keys/rotate",
    status_code=201,
    summary="Rotate: publish a new key per algorithm",
    openapi_extra=_ROTATE_DOC,
)
@idempotent
async def rotate_signing_keys(request: Request, admin: AdminCaller) -> Response:
    """The new keys sign after the propagation delay (or at once with ``immediate``);
    the previous ones stay published until every token they signed has expired. The
    answer lists the new keys."""
    await admin.require(KEYS_WRITE)
    immediate = False
    if await request.body():  # no body at all: the defaults
        immediate = (await read_body(request, Rotation)).immediate
    infos = await admin.container.keys.rotate(admin.ctx, immediate=immediate)
    render = _render(admin.container.clock.now())
    body = {"items": [render(info) for info in infos]}
    headers = {**NO_STORE, "Location": url(request, f"{PREFIX}/signing-keys")}
    return Response(canonical(body), 201, headers, media_type="application/json")
