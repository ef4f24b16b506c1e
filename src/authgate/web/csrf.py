"""CSRF protection for every form: a signed double-submit token (OWASP CSRF Prevention
Cheat Sheet, "Signed Double-Submit Cookie").

A random value lives in an HttpOnly, SameSite=Lax cookie; each form carries
HMAC(csrf_key, value). A cross-site page can neither read the cookie nor compute the HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

FIELD = "csrf_token"


def cookie_name(secure: bool) -> str:
    """``__Host-`` (RFC 6265bis §4.1.3.2) on https, so a sibling subdomain cannot plant
    its own cookie-and-token pair."""
    return "__Host-authgate_csrf" if secure else "authgate_csrf"


def _sign(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def token_for(request: Request, key: bytes, secure: bool) -> tuple[str, str | None]:
    """(form token, new cookie value to set or None when the cookie is already fine)."""
    value = request.cookies.get(cookie_name(secure))
    fresh = None
    if not value or len(value) > 100:
        value = fresh = secrets.token_urlsafe(32)
    return _sign(key, value), fresh


def set_cookie(response: Response, value: str | None, secure: bool) -> None:
    if value:
        response.set_cookie(
            cookie_name(secure), value, httponly=True, samesite="lax", secure=secure, path="/"
        )


def valid(request: Request, key: bytes, submitted: str | None, secure: bool) -> bool:
    value = request.cookies.get(cookie_name(secure))
    if not value or not submitted or len(submitted) > 200:
        return False
    return hmac.compare_digest(_sign(key, value), submitted)
