"""``/forward-auth``: a reverse proxy's sub-request, answered as a plain ASGI app (spec §6,
STYLE item 13).

The original request comes from ``X-Forwarded-Method`` + ``X-Forwarded-Uri`` +
``X-Forwarded-Host`` (Traefik, Caddy) or ``X-Original-Method`` + ``X-Original-URI`` +
``X-Original-Host`` (nginx ``auth_request``); the credential from ``Authorization: Bearer``
or ``X-API-Key``. These headers are believed as a description of the proxied request and
nothing else; whoever can reach this endpoint can ask about any path, so it answers only
what the credential sent may do. Input that could be read two ways is refused: a header
sent twice, or both ``X-Forwarded-Uri`` and ``X-Original-URI`` (a client may have added one
that the proxy passed on), is 400; docs/forward-auth.md shows proxy configurations that
overwrite or clear each of them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.container import Container
from authgate.errors import StorageUnavailable
from authgate.forwardauth.decisions import Answer, Proxied, answer
from authgate.forwardauth.routes import normalise_host
from authgate.web.errors import RETRY_AFTER_SECONDS
from authgate.web.middleware import Metrics

PATH = "/forward-auth"
_UNDER = PATH + "/"
"""Envoy's ext_authz HTTP service appends the original path to its ``path_prefix``; the
request is still read from the headers only, never from this path."""
_METHOD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}\Z")
_WANTED = frozenset(
    {
        b"authorization",
        b"x-api-key",
        b"x-forwarded-method",
        b"x-forwarded-uri",
        b"x-forwarded-host",
        b"x-original-method",
        b"x-original-uri",
        b"x-original-host",
    }
)
UNAVAILABLE = answer(
    503,
    {
        "error": "temporarily_unavailable",
        "error_description": "the database is unreachable; try again shortly",
    },
    [(b"retry-after", RETRY_AFTER_SECONDS.encode())],
)


@dataclass(frozen=True, slots=True)
class _Route:
    """What the access log and metrics read from ``scope["route"]``."""

    path: str


_ROUTE = _Route(PATH)


class BadProxyRequest(Exception):
    """The sub-request does not describe one original request (400)."""


class ForwardAuthFastPath:
    """Answers ``/forward-auth`` and paths below it (any method) and hands every other
    request to ``app``.

    It sits outside the access log: a proxy asks once per request it serves, and logs
    that request itself; writing a second line per request here would cost more than
    the decision. The request counter and latency histogram still see every answer."""

    def __init__(
        self, app: ASGIApp, container_of: Callable[[], Container], metrics: Metrics
    ) -> None:
        self.app = app
        self._container_of = container_of
        self._metrics = metrics
        self._latency = metrics.latency.labels(PATH)
        self._counters: dict[tuple[str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path != PATH and not path.startswith(_UNDER):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope["route"] = _ROUTE
        client = scope.get("client")
        try:
            request, credential = read(scope["headers"])
            result = await self._container_of().forward_auth.decide(
                request, credential, client[0] if client else None
            )
        except BadProxyRequest as error:
            result = answer(400, {"error": "invalid_request", "error_description": str(error)})
        except StorageUnavailable:
            result = UNAVAILABLE
        await _send(send, result, scope["method"] == "HEAD")
        self._count(scope["method"], result.status)
        self._latency.observe(time.perf_counter() - started)

    def _count(self, method: str, status: int) -> None:
        counter = self._counters.get((method, status))
        if counter is None:
            if len(self._counters) > 1000:  # methods are the caller's choice: bounded
                method = "OTHER"
            counter = self._metrics.requests.labels(method, PATH, str(status))
            self._counters[(method, status)] = counter
        counter.inc()


def read(raw: list[tuple[bytes, bytes]]) -> tuple[Proxied, str | None]:
    """The original request and the credential: the bearer token, the API key, ``""`` for
    an ``Authorization: Bearer`` without a token, None for none (another scheme counts as
    none: it is not a bearer request, RFC 6750 §3.1)."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _WANTED:
            if name in found:
                raise BadProxyRequest(f"{name.decode()} was sent more than once")
            found[name] = value.decode("latin-1")
    forwarded = found.get(b"x-forwarded-uri")
    original = found.get(b"x-original-uri")
    if forwarded is not None and original is not None:
        raise BadProxyRequest("send X-Forwarded-Uri or X-Original-URI, not both")
    if forwarded is not None:
        uri, method, host = forwarded, found.get(b"x-forwarded-method"), b"x-forwarded-host"
    elif original is not None:
        uri, method, host = original, found.get(b"x-original-method"), b"x-original-host"
    else:
        raise BadProxyRequest(
            "describe the original request with X-Forwarded-Method, X-Forwarded-Uri and "
            "X-Forwarded-Host, or X-Original-Method, X-Original-URI and X-Original-Host"
        )
    if method is None or not _METHOD.match(method):
        raise BadProxyRequest("the original request's method is missing or malformed")
    hostname = found.get(host)
    request = Proxied(method.upper(), uri, normalise_host(hostname) if hostname else None)
    return request, _credential(found.get(b"authorization"), found.get(b"x-api-key"))


def _credential(authorization: str | None, api_key: str | None) -> str | None:
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    if api_key is not None:
        return api_key.strip()
    return None


async def _send(send: Send, result: Answer, head: bool) -> None:
    await send({"type": "http.response.start", "status": result.status, "headers": result.headers})
    await send({"type": "http.response.body", "body": b"" if head else result.body})
