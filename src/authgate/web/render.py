"""Server-rendered pages: Jinja2 with autoescaping, a CSRF token in every form, and
headers that keep pages out of frames and caches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from authgate.web import csrf
from authgate.web.deps import container_of

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    enable_async=False,
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def session_cookie_name(request: Request) -> str:
    # The __Host- prefix (RFC 6265bis §4.1.3.2) pins the cookie to this host over https.
    return (
        "__Host-authgate_session"
        if container_of(request).settings.issuer_is_https
        else "authgate_session"
    )


def page(
    request: Request,
    template: str,
    status: int = 200,
    *,
    form_action: Sequence[str] = (),
    **context: Any,
) -> HTMLResponse:
    """``form_action``: origins (CSP sources) a form on the page may lead to besides
    AuthGate itself — the client's, on pages that end in a redirect to it."""
    container = container_of(request)
    token, fresh_cookie = csrf.token_for(
        request, container.csrf_key, container.settings.issuer_is_https
    )
    html = _env.get_template(template).render(csrf_token=token, request=request, **context)
    headers = SECURITY_HEADERS
    if form_action:
        policy = headers["Content-Security-Policy"].replace(
            "form-action 'self'", "form-action 'self' " + " ".join(form_action)
        )
        headers = {**headers, "Content-Security-Policy": policy}
    response = HTMLResponse(html, status_code=status, headers=headers)
    csrf.set_cookie(response, fresh_cookie, container.settings.issuer_is_https)
    return response


def csrf_ok(request: Request, submitted: str | None) -> bool:
    container = container_of(request)
    return csrf.valid(request, container.csrf_key, submitted, container.settings.issuer_is_https)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = container_of(request).settings
    response.set_cookie(
        session_cookie_name(request),
        token,
        max_age=int(settings.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.issuer_is_https,
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    settings = container_of(request).settings
    response.delete_cookie(
        session_cookie_name(request),
        httponly=True,
        samesite="lax",
        secure=settings.issuer_is_https,
        path="/",
    )


def safe_next(target: str | None, default: str = "/account") -> str:
    """Only same-site paths: no scheme, no host, no protocol-relative ``//`` (open
    redirect, RFC 9700 §4.11)."""
    if not target or len(target) > 8000:
        return default
    if not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(ch) < 0x20 for ch in target):
        return default
    return target
