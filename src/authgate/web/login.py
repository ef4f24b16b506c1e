"""Login, second factor and logout pages (forms that work without JavaScript)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authgate.audit.events import GLOBAL_SCOPE, AuditTag
from authgate.errors import AuthenticationFailed, TooManyAttempts
from authgate.sessions.service import ACTIVE, MFA_PENDING
from authgate.web.deps import audit_context, container_of
from authgate.web.flow import continuation_sources
from authgate.web.render import (
    clear_session_cookie,
    csrf_ok,
    page,
    redirect,
    safe_next,
    session_cookie_name,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form(max_length=4096)]
OptionalField = Annotated[str | None, Form(max_length=4096)]
CSRF_FAILED = "This form expired or was sent from another site. Reload the page and try again."


async def _flow_page(
    request: Request, template: str, status: int = 200, **context: Any
) -> Response:
    """A login or second-factor page: its form may end in a redirect to the client whose
    authorization request is waiting in ``next``."""
    sources = await continuation_sources(request, context.get("next"))
    return page(request, template, status, form_action=sources, **context)


def _login_metric(request: Request, outcome: str) -> None:
    request.app.state.metrics.logins.labels(outcome).inc()


@router.get("/login")
async def login_form(
    request: Request,
    next: str | None = None,
    force: str | None = None,
    login_hint: str | None = None,
) -> Response:
    """``force`` asks for the password even with a session (OIDC ``prompt=login``,
    ``max_age``); ``login_hint`` fills in the username (OIDC Core §3.1.2.1)."""
    container = container_of(request)
    current = await container.sessions.lookup(request.cookies.get(session_cookie_name(request)))
    if current is not None and current.stage == ACTIVE and not force:
        return redirect(safe_next(next))
    return await _flow_page(
        request, "login.html", next=safe_next(next), username=(login_hint or "")[:150]
    )


@router.post("/login")
async def login_submit(
    request: Request,
    username: Field = "",
    password: Field = "",
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    container = container_of(request)
    target = safe_next(next)
    if not csrf_ok(request, csrf_token):
        return await _flow_page(
            request, "login.html", 403, error=CSRF_FAILED, next=target, username=username
        )
    ctx = audit_context(request)
    try:
        outcome = await container.login.check_password(username, password, ctx)
    except TooManyAttempts as exc:
        _login_metric(request, "throttled")
        throttled = await _flow_page(
            request, "login.html", 429, error=exc.message, next=target, username=username
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    except AuthenticationFailed as exc:
        _login_metric(request, "failure")
        return await _flow_page(
            request, "login.html", 401, error=exc.message, next=target, username=username
        )
    old = request.cookies.get(session_cookie_name(request))
    stage = MFA_PENDING if outcome.needs_mfa else ACTIVE
    token = await container.sessions.start(
        outcome.user_id,
        stage,
        ["pwd"],
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        replaces=old,
    )
    _login_metric(request, "mfa_required" if outcome.needs_mfa else "success")
    response = redirect(f"/login/mfa?next={quote(target)}" if outcome.needs_mfa else target)
    set_session_cookie(request, response, token)
    return response


@router.get("/login/mfa")
async def mfa_form(request: Request, next: str | None = None) -> Response:
    container = container_of(request)
    current = await container.sessions.lookup(request.cookies.get(session_cookie_name(request)))
    if current is None or current.stage != MFA_PENDING:
        return redirect("/login")
    return await _flow_page(request, "mfa.html", next=safe_next(next))


@router.post("/login/mfa")
async def mfa_submit(
    request: Request,
    code: Field = "",
    csrf_token: OptionalField = None,
    next: OptionalField = None,
) -> Response:
    container = container_of(request)
    target = safe_next(next)
    cookie = request.cookies.get(session_cookie_name(request))
    current = await container.sessions.lookup(cookie)
    if current is None or current.stage != MFA_PENDING:
        return redirect("/login")
    if not csrf_ok(request, csrf_token):
        return await _flow_page(request, "mfa.html", 403, error=CSRF_FAILED, next=target)
    ctx = audit_context(request, actor=f"user:{current.user_id}")
    try:
        await container.login.check_second_factor(current.user_id, code, ctx)
    except TooManyAttempts as exc:
        throttled = await _flow_page(request, "mfa.html", 429, error=exc.message, next=target)
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    except AuthenticationFailed as exc:
        _login_metric(request, "mfa_failure")
        return await _flow_page(request, "mfa.html", 401, error=exc.message, next=target)
    token = await container.sessions.start(
        current.user_id,
        ACTIVE,
        ["pwd", "otp"],
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        replaces=cookie,
    )
    _login_metric(request, "success")
    response = redirect(target)
    set_session_cookie(request, response, token)
    return response


@router.get("/logout")
async def logout_form(request: Request) -> Response:
    return page(request, "logout.html")


@router.post("/logout")
async def logout_submit(request: Request, csrf_token: OptionalField = None) -> Response:
    container = container_of(request)
    if not csrf_ok(request, csrf_token):
        return page(request, "logout.html", 403, error=CSRF_FAILED)
    cookie = request.cookies.get(session_cookie_name(request))
    current = await container.sessions.lookup(cookie)
    await container.sessions.end(cookie)
    if current is not None:
        user = await container.users.get_by_id(current.user_id)
        await container.audit.record(
            AuditTag.LOGOUT,
            audit_context(request, actor=f"user:{current.user_id}"),
            scope=user.scope if user is not None else GLOBAL_SCOPE,
            subject=f"user:{current.user_id}",
        )
    response = redirect("/?logged_out=1")
    clear_session_cookie(request, response)
    return response
