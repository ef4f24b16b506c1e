"""FastAPI: ``Depends(require("orders:read"))`` gives the route the token's :class:`Claims`.

The verifier is the one passed to :func:`require`, else ``app.state.token_verifier``::

    app.state.token_verifier = TokenVerifier("https://auth.example.com", "https://orders.example.com")

    @app.get("/orders")
    async def orders(claims: Claims = Depends(require("orders:read"))) -> list[Order]: ...
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from authgate_sdk.challenge import credential, refusal
from authgate_sdk.claims import Claims
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.verifier import TokenVerifier


def _refuse(realm: str, exc: InvalidToken | InsufficientScope | None) -> HTTPException:
    status, header, body = refusal(realm, exc)
    return HTTPException(
        status,
        detail=json.loads(body),
        headers={"WWW-Authenticate": header, "Cache-Control": "no-store"},
    )


def require(
    permission: str | None = None,
    *,
    verifier: TokenVerifier | None = None,
    realm: str | None = None,
) -> Callable[[Request], Awaitable[Claims]]:
    """A dependency that answers 401/403 (RFC 6750 §3) unless the request carries a valid
    access token or API key (``Authorization: Bearer`` or ``X-API-Key``) holding
    ``permission`` (any valid one when None)."""

    async def dependency(request: Request) -> Claims:
        found = verifier or getattr(request.app.state, "token_verifier", None)
        if not isinstance(found, TokenVerifier):
            raise RuntimeError("set app.state.token_verifier or pass require(verifier=...)")
        where = realm or found.audience
        token = credential(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if token is None:
            raise _refuse(where, None)
        try:
            client_ip = request.client.host if request.client else None
            return await found.averify(token, permission, client_ip=client_ip)
        except (InvalidToken, InsufficientScope) as exc:
            raise _refuse(where, exc) from None
        except IssuerUnavailable:
            raise HTTPException(
                503, detail={"error": "temporarily_unavailable"}, headers={"Retry-After": "5"}
            ) from None

    return dependency
