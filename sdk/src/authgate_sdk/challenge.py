"""RFC 6750 §3 answers, shared by the framework integrations (no framework imports).

No credential: 401 with ``Bearer realm="…"`` and no error code (§3.1); a bad one: 401
``error="invalid_token"``; a good one without the permission: 403
``error="insufficient_scope"`` naming the scope needed. The reason a token was refused is
logged, never sent.
"""

from __future__ import annotations

import json
import logging

from authgate_sdk.errors import InsufficientScope, InvalidToken

log = logging.getLogger("authgate_sdk")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), else None."""
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def credential(authorization: str | None, api_key: str | None) -> str | None:
    """The credential a request carries: an ``Authorization: Bearer`` token or API key
    (RFC 6750 §2.1), else an ``X-API-Key`` header's value (an API key only: anything else
    there is sent on as is and refused)."""
    token = bearer_token(authorization)
    if token is not None:
        return token
    if api_key is not None:
        api_key = api_key.strip()
        return api_key or None
    return None


def challenge(realm: str, error: str | None = None, scope: str | None = None) -> str:
    parts = [f"Bearer realm={_quote(realm)}"]
    if error is not None:
        parts.append(f"error={_quote(error)}")
    if scope is not None:
        parts.append(f"scope={_quote(scope)}")
    return ", ".join(parts)


def refusal(realm: str, exc: InvalidToken | InsufficientScope | None) -> tuple[int, str, bytes]:
    """Status, ``WWW-Authenticate`` value and JSON body answering a refused request;
    ``exc`` None means no credential was sent."""
    if exc is None:
        status, header = 401, challenge(realm)
        body = {"error": "unauthorized", "error_description": "a bearer token is required"}
    elif isinstance(exc, InsufficientScope):
        status, header = 403, challenge(realm, "insufficient_scope", exc.permission)
        body = {
            "error": "insufficient_scope",
            "error_description": f"the token does not carry {exc.permission}",
        }
    else:
        log.debug("refused a bearer token: %s", exc.reason)
        status, header = 401, challenge(realm, "invalid_token")
        body = {"error": "invalid_token", "error_description": "the token is invalid or expired"}
    return status, header, json.dumps(body).encode()
