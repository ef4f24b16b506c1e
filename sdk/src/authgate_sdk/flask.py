"""Flask: ``@require("orders:read")`` lets a view run only for a valid access token or API
key holding the permission; the :class:`~authgate_sdk.claims.Claims` are in
``flask.g.claims``.

The verifier is the one passed to :func:`require`, else ``app.extensions["authgate"]``::

    app.extensions["authgate"] = TokenVerifier("https://auth.example.com", "https://orders.example.com")

    @app.get("/orders")
    @require("orders:read")
    def orders() -> list[dict]:
        return [{"owner": g.claims.subject}]

Verification is synchronous (:meth:`TokenVerifier.verify`); refusals answer 401/403 with
the RFC 6750 §3 ``WWW-Authenticate`` header, and 503 when AuthGate must be asked and
cannot be.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request

from authgate_sdk.challenge import credential, refusal
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.verifier import TokenVerifier

View = TypeVar("View", bound=Callable[..., Any])
EXTENSION = "authgate"


def _refuse(realm: str, exc: InvalidToken | InsufficientScope | None) -> Response:
    status, header, body = refusal(realm, exc)
    return Response(
        body,
        status=status,
        mimetype="application/json",
        headers={"WWW-Authenticate": header, "Cache-Control": "no-store"},
    )


def require(
    permission: str | None = None,
    *,
    verifier: TokenVerifier | None = None,
    realm: str | None = None,
) -> Callable[[View], View]:
    """A view decorator that answers 401/403 (RFC 6750 §3) unless the request carries a
    valid credential holding ``permission`` (any valid one when None)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            found = verifier or current_app.extensions.get(EXTENSION)
            if not isinstance(found, TokenVerifier):
                raise RuntimeError(
                    'set app.extensions["authgate"] to a TokenVerifier or pass require(verifier=...)'
                )
            where = realm or found.audience
            token = credential(
                request.headers.get("Authorization"), request.headers.get("X-API-Key")
            )
            if token is None:
                return _refuse(where, None)
            try:
                g.claims = found.verify(token, permission, client_ip=request.remote_addr)
            except (InvalidToken, InsufficientScope) as exc:
                return _refuse(where, exc)
            except IssuerUnavailable:
                return Response(
                    b'{"error":"temporarily_unavailable"}',
                    status=503,
                    mimetype="application/json",
                    headers={"Retry-After": "5"},
                )
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate
