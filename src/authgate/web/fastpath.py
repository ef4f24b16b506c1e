"""The back-channel OAuth endpoints as a plain ASGI app (STYLE item 13).

Token, introspection and revocation requests come from programs, often in bulk; they need
neither routing tables, dependency injection nor templates. This app answers them
directly and hands every other request to the full application.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.container import Container
from authgate.errors import StorageUnavailable
from authgate.protocol.errors import InvalidClient, InvalidRequest, OAuthError, SlowDown
from authgate.protocol.messages import NO_STORE, OAuthRequest, OAuthResponse
from authgate.web.errors import RETRY_AFTER_SECONDS

log = logging.getLogger("authgate.oauth")

TOKEN_PATH = "/oauth/token"
INTROSPECT_PATH = "/oauth/introspect"
REVOKE_PATH = "/oauth/revoke"
PATHS = frozenset({TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH})


@dataclass(frozen=True, slots=True)
class _Route:
    path: str


_ROUTES = {path: _Route(path) for path in PATHS}

Handler = Callable[[Container, OAuthRequest, AuditContext], Awaitable[OAuthResponse]]


class OAuthFastPath:
    def __init__(self, app: ASGIApp, container_of: Callable[[], Container]) -> None:
        self.app = app
        self._container_of = container_of
        self._handlers: dict[str, Handler] = {
            TOKEN_PATH: _token,
            INTROSPECT_PATH: _introspect,
            REVOKE_PATH: _revoke,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTES[scope["path"]]  # what the access log and metrics read
        if scope["method"] != "POST":
            await _send_json(
                send, 405, _error_body("invalid_request", "use POST"), {"Allow": "POST"}
            )
            return
        container = self._container_of()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        ctx = AuditContext(
            source_ip=client[0][:64] if client else None,
            user_agent=headers.get("user-agent"),
            request_id=scope.get("state", {}).get("request_id"),
        )
        request: OAuthRequest | None = None
        try:
            wait = await container.limits.client_auth_blocked(ctx.source_ip)
            if wait is not None:
                raise SlowDown(
                    f"too many failed client authentications from this address; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
            request = await _read(receive, headers, ctx.source_ip)
            response = await self._handlers[scope["path"]](container, request, ctx)
        except OAuthError as error:
            if isinstance(error, InvalidClient):
                await _count_failed_auth(container, ctx.source_ip)
            if error.detail:
                log.info("oauth error", extra={"error": error.error, "detail": error.detail})
            if error.event:
                by, where = await _calling_client(container, request, ctx)
                await container.audit.record(
                    AuditTag(error.event), by, scope=where, details={"error": error.error}
                )
            await _send_json(send, error.status, error.body(), {**NO_STORE, **error.headers})
            return
        except StorageUnavailable:
            body = _error_body(
                "temporarily_unavailable", "the database is unreachable; try again shortly"
            )
            await _send_json(send, 503, body, {**NO_STORE, "Retry-After": RETRY_AFTER_SECONDS})
            return
        await _send_json(send, response.status, response.body, response.headers)


async def _read(receive: Receive, headers: dict[str, str], client_ip: str | None) -> OAuthRequest:
    """RFC 6749 §3.2: form-encoded parameters, each at most once."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("send the parameters as application/x-www-form-urlencoded")
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    try:
        pairs = parse_qsl(
            b"".join(chunks).decode("utf-8"), keep_blank_values=True, max_num_fields=100
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is not valid UTF-8 form encoding") from None
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for key, value in pairs:
        if key in values:
            repeated.add(key)
        values.setdefault(key, value)
    return OAuthRequest(values, headers.get("authorization"), client_ip, frozenset(repeated))


async def _token(container: Container, request: OAuthRequest, ctx: AuditContext) -> OAuthResponse:
    return await container.oauth.token.handle(request)


async def _introspect(
    container: Container, request: OAuthRequest, ctx: AuditContext
) -> OAuthResponse:
    return await container.oauth.introspection.handle(request)


async def _revoke(container: Container, request: OAuthRequest, ctx: AuditContext) -> OAuthResponse:
    response, revoked = await container.oauth.revocation.handle(request)
    if revoked is not None:
        by, where = await _calling_client(container, request, ctx)
        await container.audit.record(AuditTag.OAUTH_TOKEN_REVOKED, by, scope=where, subject=revoked)
    return response


async def _calling_client(
    container: Container, request: OAuthRequest | None, ctx: AuditContext
) -> tuple[AuditContext, str]:
    """The calling client as the actor of its security events, and where it is
    administered (``/`` when the request does not name it in ``client_id`` or Basic
    credentials). Such events happen only after the client authenticated, so the client
    named is the one that did."""
    client_id = _named_client(request) if request is not None else None
    client = await container.clients.get(client_id) if client_id else None
    if client is None:
        return ctx, GLOBAL_SCOPE
    return replace(ctx, actor=f"client:{client.client_id}"), client.scope


def _named_client(request: OAuthRequest) -> str | None:
    if request.form.get("client_id"):
        return request.form["client_id"]
    scheme, _, value = (request.authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote_plus(decoded.partition(":")[0]) or None


async def _count_failed_auth(container: Container, source_ip: str | None) -> None:
    """RFC 6749 §10.10: make guessing client secrets infeasible. Counting must not turn
    an authentication failure into an outage, so a Redis failure here is only logged."""
    try:
        await container.limits.client_auth_failed(source_ip)
    except StorageUnavailable:
        log.warning("could not count a failed client authentication: Redis is unreachable")


def _error_body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
