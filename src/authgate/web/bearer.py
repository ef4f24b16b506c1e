"""Bearer-token authentication for AuthGate's own JSON APIs (RFC 6750).

A missing token answers 401 with ``WWW-Authenticate: Bearer realm="authgate"`` and no
error code (§3.1); a bad one 401 ``invalid_token``; a token without what the call needs
403 ``insufficient_scope``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.requests import Request

from authgate.container import Container
from authgate.errors import AuthGateError
from authgate.tokens.callers import Caller
from authgate.web.deps import container_of

REALM = 'Bearer realm="authgate"'


class BearerError(AuthGateError):
    """401/403 with the RFC 6750 §3 challenge."""

    def __init__(self, status: int, code: str, message: str, challenge: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.challenge = challenge

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.code, "error_description": self.message},
            status_code=self.status,
            headers={"WWW-Authenticate": self.challenge, "Cache-Control": "no-store"},
        )


async def authenticate(
    container: Container,
    authorization: str | None,
    audience: str,
    *,
    api_key: str | None = None,
    source_ip: str | None = None,
) -> Caller:
    """The caller behind an ``Authorization`` header value (an AuthGate access token for
    ``audience``, RFC 6750 §2.1, or an API key) or an ``X-API-Key`` value (spec §4); raises
    :class:`BearerError` (§3.1) otherwise. Shared by the FastAPI routes and the plain-ASGI
    decision endpoints."""
    if authorization is None and api_key is not None:
        authorization = "Bearer " + api_key
    if authorization is None:
        raise BearerError(
            401, "invalid_token", "an access token is required (Authorization: Bearer)", REALM
        )
    scheme, _, value = authorization.partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not token:
        raise BearerError(
            401,
            "invalid_request",
            "send the access token as Authorization: Bearer <token>",
            f'{REALM}, error="invalid_request"',
        )
    caller = await container.credentials.resolve(token, audience=audience, source_ip=source_ip)
    if caller is None:
        raise BearerError(
            401,
            "invalid_token",
            "the access token is invalid, expired, revoked or not for this API",
            f'{REALM}, error="invalid_token"',
        )
    return caller


async def bearer_caller(request: Request, audience: str) -> Caller:
    """The caller of ``request``, authenticated by an AuthGate access token for
    ``audience``; raises :class:`BearerError` otherwise."""
    return await authenticate(
        container_of(request),
        request.headers.get("authorization"),
        audience,
        api_key=request.headers.get("x-api-key"),
        source_ip=request.client.host if request.client else None,
    )


def insufficient_scope(permission: str) -> BearerError:
    return BearerError(
        403,
        "insufficient_scope",
        f"the access token does not carry {permission}",
        f'{REALM}, error="insufficient_scope", scope="{permission}"',
    )
