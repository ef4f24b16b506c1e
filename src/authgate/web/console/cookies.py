"""The console's sealed cookies (AES-GCM under the master key, never readable by the
browser): the sign-in *flow*, the console *session* and the one-time *result* of an
action, each sealed for its own purpose so one can never be passed off as another.

All are HttpOnly and SameSite=Lax, and on an https issuer ``Secure`` with the
``__Host-`` prefix (RFC 6265bis §4.1.3.2)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import ConfigurationError
from authgate.web.deps import container_of

SESSION = "authgate_console"
FLOW = "authgate_console_flow"
RESULT = "authgate_console_result"
#: How long the result of an action waits for the page that shows it (POST → 303 → GET).
RESULT_TTL = timedelta(minutes=2)
_RESULT_SEAL = "console-result"
_MAX_COOKIE = 4000


def name(request: Request, base: str) -> str:
    prefix = "__Host-" if container_of(request).settings.issuer_is_https else ""
    return prefix + base


def seal(request: Request, data: dict[str, object], purpose: str) -> str:
    sealed = container_of(request).master.seal(json.dumps(data).encode(), purpose)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(request: Request, text: str | None, purpose: str) -> dict[str, Any] | None:
    if not text or len(text) > _MAX_COOKIE:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(container_of(request).master.open(raw, purpose))
    except (ValueError, TypeError, ConfigurationError):
        return None
    return data if isinstance(data, dict) else None


def set_cookie(request: Request, response: Response, base: str, value: str, ttl: int) -> None:
    response.set_cookie(
        name(request, base),
        value,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        secure=container_of(request).settings.issuer_is_https,
        path="/",
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(
        name(request, base),
        httponly=True,
        samesite="lax",
        secure=container_of(request).settings.issuer_is_https,
        path="/",
    )


# -- the one-time result of an action -----------------------------------------------------


def keep_result(request: Request, response: Response, holder: str, **result: object) -> None:
    """Hand ``result`` (a notice, a secret shown once) to the next page this administrator
    loads in this browser session, and to no other: it is sealed, bound to ``holder``
    (the user and their browser session, so it dies with a sign-out), expires within
    :data:`RESULT_TTL` and is cleared by the page that shows it."""
    expires = container_of(request).clock.now() + RESULT_TTL
    data = {"u": holder, "e": expires.timestamp(), "r": result}
    ttl = int(RESULT_TTL.total_seconds())
    set_cookie(request, response, RESULT, seal(request, data, _RESULT_SEAL), ttl)


def take_result(request: Request, holder: str) -> dict[str, Any] | None:
    """The result kept for ``holder``, if one came with the request and is fresh."""
    data = unseal(request, request.cookies.get(name(request, RESULT)), _RESULT_SEAL)
    if data is None or data.get("u") != holder:
        return None
    now = container_of(request).clock.now().timestamp()
    if not isinstance(data.get("e"), int | float) or data["e"] < now:
        return None
    result = data.get("r")
    return result if isinstance(result, dict) else None


def has_result(request: Request) -> bool:
    return name(request, RESULT) in request.cookies
