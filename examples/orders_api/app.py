"""A small orders API, protected by AuthGate in one of two ways (see README.md).

- ``ORDERS_MODE=sdk``: the API verifies AuthGate access tokens itself with the SDK
  (``authgate_sdk.fastapi.require``), locally, against AuthGate's published keys;
- ``ORDERS_MODE=proxy``: the API sits behind a reverse proxy that asks AuthGate's
  ``/forward-auth`` about every request and passes the caller's identity in
  ``X-Authgate-*`` headers. The API believes those headers only on connections from
  ``ORDERS_TRUSTED_PROXIES`` (the proxy's addresses); anything else is refused, so a
  client that reaches the API directly cannot claim to be someone.

Run it with uvicorn from this directory::

    ORDERS_MODE=proxy uvicorn app:app --port 9000
    ORDERS_MODE=sdk AUTHGATE_ISSUER=http://127.0.0.1:8080 uvicorn app:app --port 9001

(No ``from __future__ import annotations`` here: FastAPI reads the route signatures,
whose dependency aliases are local to :func:`create_app`.)
"""

import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from authgate_sdk import Claims, TokenVerifier
from authgate_sdk.fastapi import require
from fastapi import Depends, FastAPI, HTTPException, Request

AUDIENCE = os.environ.get("ORDERS_AUDIENCE", "https://orders.example.com")


@dataclass(frozen=True)
class Caller:
    """Who the request is from, however the API learnt it."""

    subject: str
    subject_type: str
    client: str | None
    scope: list[str]
    key_id: str | None = None


# A tiny in-memory store: enough to show what each permission guards.
ORDERS: dict[str, dict[str, Any]] = {
    "42": {"id": "42", "item": "coffee beans", "quantity": 2},
    "43": {"id": "43", "item": "filters", "quantity": 100},
}

Identify = Callable[[Request], Awaitable[Caller]]


def _from_claims(claims: Claims) -> Caller:
    kind = "client" if claims.subject == claims.client_id else "user"
    return Caller(claims.subject, kind, claims.client_id, sorted(claims.scopes))


def sdk_guard(permission: str, verifier: TokenVerifier) -> Identify:
    """The SDK checks the token and the permission (401/403 with RFC 6750 challenges)."""
    check = require(permission, verifier=verifier)

    async def identify(request: Request) -> Caller:
        return _from_claims(await check(request))

    return identify


def proxy_guard(trusted: frozenset[str]) -> Identify:
    """The proxy already asked AuthGate; the API reads the identity it passed on."""

    async def identify(request: Request) -> Caller:
        peer = request.client.host if request.client else ""
        if peer not in trusted:
            raise HTTPException(403, detail={"error": "use the proxy"})
        headers = request.headers
        subject = headers.get("x-authgate-subject")
        if not subject:  # the proxy lets no protected request through without one
            raise HTTPException(401, detail={"error": "unauthorized"})
        return Caller(
            subject=subject,
            subject_type=headers.get("x-authgate-subject-type", ""),
            client=headers.get("x-authgate-client") or None,  # empty: not applicable
            scope=headers.get("x-authgate-scope", "").split(),
            key_id=headers.get("x-authgate-key-id") or None,
        )

    return identify


def create_app(mode: str, *, issuer: str | None = None, trusted: str = "127.0.0.1") -> FastAPI:
    """``mode`` is ``sdk`` (``issuer`` required) or ``proxy``."""
    app = FastAPI(title=f"Orders API ({mode})")
    if mode == "sdk":
        if not issuer:
            raise ValueError("the sdk mode needs AuthGate's issuer URL")
        verifier = TokenVerifier(issuer, AUDIENCE)

        def guard(permission: str) -> Identify:
            return sdk_guard(permission, verifier)

    elif mode == "proxy":
        proxies = frozenset(p.strip() for p in trusted.split(",") if p.strip())

        def guard(permission: str) -> Identify:
            return proxy_guard(proxies)

    else:
        raise ValueError(f"ORDERS_MODE must be sdk or proxy, not {mode!r}")

    Reader = Annotated[Caller, Depends(guard("orders:read"))]
    Writer = Annotated[Caller, Depends(guard("orders:write"))]
    Deleter = Annotated[Caller, Depends(guard("orders:delete"))]

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """Public. Echoes any X-Authgate-* header it got (the proxy must strip forged ones)."""
        seen = {k: v for k, v in request.headers.items() if k.startswith("x-authgate-") and v}
        return {"status": "ok", "identity_headers": seen}

    @app.get("/orders")
    async def list_orders(caller: Reader) -> dict[str, Any]:
        return {"orders": list(ORDERS.values()), "caller": asdict(caller)}

    @app.post("/orders", status_code=201)
    async def create_order(caller: Writer) -> dict[str, Any]:
        order_id = str(max(int(k) for k in ORDERS) + 1)
        ORDERS[order_id] = {"id": order_id, "item": "new", "quantity": 1}
        return {"order": ORDERS[order_id], "caller": asdict(caller)}

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, caller: Reader) -> dict[str, Any]:
        if order_id not in ORDERS:
            raise HTTPException(404, detail={"error": "no such order"})
        return {"order": ORDERS[order_id], "caller": asdict(caller)}

    @app.delete("/orders/{order_id}", status_code=204)
    async def delete_order(order_id: str, caller: Deleter) -> None:
        ORDERS.pop(order_id, None)

    return app


app = create_app(
    os.environ.get("ORDERS_MODE", "proxy"),
    issuer=os.environ.get("AUTHGATE_ISSUER"),
    trusted=os.environ.get("ORDERS_TRUSTED_PROXIES", "127.0.0.1"),
)
