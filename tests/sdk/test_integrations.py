"""The FastAPI dependency and the ASGI middleware in front of small APIs, with tokens from a
real AuthGate: RFC 6750 §3 answers (401 without an error code when no token is sent, 401
``invalid_token``, 403 ``insufficient_scope``) and the claims handed to the route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from authgate_sdk import Claims, TokenVerifier
from authgate_sdk.asgi import BearerAuthMiddleware
from authgate_sdk.fastapi import require
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conformance.conftest import ORDERS, sqlite_only

pytestmark = [sqlite_only]


def orders_api(verifier: TokenVerifier | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/orders")
    async def list_orders(claims: Claims = Depends(require("orders:read"))) -> dict[str, Any]:
        return {"subject": claims.subject, "scopes": sorted(claims.scopes)}

    @app.delete("/orders/{order_id}")
    async def delete_order(
        order_id: str, claims: Claims = Depends(require("orders:delete", verifier=verifier))
    ) -> dict[str, str]:
        return {"deleted": order_id}

    return app


@pytest.fixture
async def fastapi_client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    app = orders_api(verifier)
    app.state.token_verifier = verifier
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_fastapi_valid_token(fastapi_client: httpx.AsyncClient, token: str) -> None:
    response = await fastapi_client.get("/orders", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == ["orders:read"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["none", "basic", "empty-bearer"],
)
async def test_fastapi_no_token(fastapi_client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """RFC 6750 §3.1: a request without a bearer token gets the challenge, no error code."""
    response = await fastapi_client.get("/orders", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{ORDERS}"'


async def test_fastapi_invalid_token(fastapi_client: httpx.AsyncClient, token: str) -> None:
    response = await fastapi_client.get("/orders", headers=bearer(token[:-4] + "AAAA"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{ORDERS}", error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"
    assert "signature" not in response.text  # why it failed is logged, not told


async def test_fastapi_insufficient_scope(fastapi_client: httpx.AsyncClient, token: str) -> None:
    response = await fastapi_client.delete("/orders/42", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{ORDERS}", error="insufficient_scope", scope="orders:delete"'
    )


async def test_fastapi_without_a_verifier_is_a_programming_error(token: str) -> None:
    transport = httpx.ASGITransport(app=orders_api(), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        with pytest.raises(RuntimeError, match="token_verifier"):
            await client.get("/orders", headers=bearer(token))


# -- the ASGI middleware ---------------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    claims: Claims | None = request.state.claims
    return JSONResponse({"subject": claims.subject if claims else None})


def protected(verifier: TokenVerifier, **options: Any) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/me", whoami)])
    wrapped = BearerAuthMiddleware(app, verifier, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://orders")


async def test_middleware_puts_claims_in_the_request_state(
    verifier: TokenVerifier, token: str
) -> None:
    async with protected(verifier, realm="orders") as client:
        response = await client.get("/me", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["subject"]
        refused = await client.get("/me")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="orders"'
        bad = await client.get("/me", headers=bearer("not.a.token"))
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == 'Bearer realm="orders", error="invalid_token"'
        assert json.loads(bad.content)["error"] == "invalid_token"


async def test_middleware_permission(verifier: TokenVerifier, token: str) -> None:
    async with protected(verifier, permission="orders:write") as client:
        response = await client.get("/me", headers=bearer(token))
        assert response.status_code == 403
        assert (
            'error="insufficient_scope", scope="orders:write"'
            in response.headers["www-authenticate"]
        )


async def test_middleware_optional(verifier: TokenVerifier, token: str) -> None:
    """``optional``: no token passes with no claims; a bad token is still refused."""
    async with protected(verifier, optional=True) as client:
        assert (await client.get("/me")).json() == {"subject": None}
        assert (await client.get("/me", headers=bearer(token))).json()["subject"]
        assert (await client.get("/me", headers=bearer(token + "x"))).status_code == 401


async def test_middleware_lets_lifespan_through(verifier: TokenVerifier) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BearerAuthMiddleware(app, verifier)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
