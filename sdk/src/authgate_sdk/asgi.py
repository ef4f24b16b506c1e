"""A pure ASGI middleware for Starlette or any ASGI application.

Every HTTP request (and WebSocket handshake) must carry a valid access token or API key
(``Authorization: Bearer …`` or ``X-API-Key: …``) — holding
``permission`` when one is given — or is answered 401/403 per RFC 6750 §3 without
reaching the application. The :class:`~authgate_sdk.claims.Claims` are put in
``scope["state"]["claims"]`` (Starlette: ``request.state.claims``). With
``optional=True`` a request with no token passes through with no claims; a bad token is
still refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from authgate_sdk.challenge import credential, refusal
from authgate_sdk.claims import Claims
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.verifier import TokenVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _credential(scope: Scope) -> str | None:
    authorization = api_key = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            authorization = bytes(value).decode("latin-1")
        elif name == b"x-api-key":
            api_key = bytes(value).decode("latin-1")
    return credential(authorization, api_key)


class BearerAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        permission: str | None = None,
        realm: str | None = None,
        optional: bool = False,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.permission = permission
        self.realm = realm or verifier.audience
        self.optional = optional

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = _credential(scope)
        claims: Claims | None = None
        try:
            if token is not None:
                client = scope.get("client")
                claims = await self.verifier.averify(
                    token, self.permission, client_ip=client[0] if client else None
                )
            elif not self.optional:
                await self._refuse(scope, send, None)
                return
        except (InvalidToken, InsufficientScope) as exc:
            await self._refuse(scope, send, exc)
            return
        except IssuerUnavailable:
            await self._respond(scope, send, 503, [(b"retry-after", b"5")], b"")
            return
        state = dict(scope.get("state") or {})
        state["claims"] = claims
        await self.app({**scope, "state": state}, receive, send)

    async def _refuse(
        self, scope: Scope, send: Send, exc: InvalidToken | InsufficientScope | None
    ) -> None:
        status, header, body = refusal(self.realm, exc)
        headers = [
            (b"www-authenticate", header.encode("latin-1")),
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
        ]
        await self._respond(scope, send, status, headers, body)

    @staticmethod
    async def _respond(
        scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting refuses the handshake (ASGI spec: server answers 403).
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
