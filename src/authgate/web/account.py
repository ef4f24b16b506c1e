"""The signed-in user's own pages: landing, account overview (with the apps they allowed,
revocable, and their API keys) and TOTP enrolment."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authgate.apikeys.models import CreatedApiKey
from authgate.apikeys.service import MAX_LIVE_KEYS_PER_OWNER
from authgate.container import Container
from authgate.durations import parse_duration
from authgate.errors import AuthenticationFailed, InvalidInput, NotFound, TooManyAttempts
from authgate.sessions.service import ACTIVE, BrowserSession
from authgate.web.authorize import SCOPE_TEXT
from authgate.web.deps import audit_context, container_of
from authgate.web.login import CSRF_FAILED
from authgate.web.render import csrf_ok, page, redirect, session_cookie_name

router = APIRouter(include_in_schema=False)
OptionalField = Annotated[str | None, Form(max_length=4096)]
ENROL_MISMATCH = (
    "That code does not match. Check the time on your phone and enter the current 6-digit code."
)
NO_SUCH_CONSENT = "That app does not have access to your account, so there was nothing to remove."


@dataclass(frozen=True)
class AllowedApp:
    """One remembered consent as the account page shows it."""

    client_id: str
    name: str
    scopes: list[tuple[str, str]]  # (scope, what it lets the app do)
    granted_at: datetime
    disabled: bool


async def _current(request: Request) -> BrowserSession | None:
    container = container_of(request)
    current = await container.sessions.lookup(request.cookies.get(session_cookie_name(request)))
    return current if current is not None and current.stage == ACTIVE else None


def _to_login(request: Request) -> Response:
    return redirect("/login?next=" + quote(request.url.path))


def _qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG data URI (no JavaScript, no external service)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@router.get("/")
async def home(request: Request) -> Response:
    current = await _current(request)
    return page(
        request,
        "home.html",
        user=current,
        issuer=container_of(request).settings.issuer,
        logged_out=request.query_params.get("logged_out") == "1",
    )


async def _allowed_apps(container: Container, user_id: str) -> list[AllowedApp]:
    """The user's consents, each named as the consent page named the client: by its name,
    else by its id."""
    apps = []
    for consent in await container.consents.for_user(user_id):
        client = await container.clients.get(consent.client_id)
        apps.append(
            AllowedApp(
                client_id=consent.client_id,
                name=client.name if client else consent.client_id,
                scopes=[(s, SCOPE_TEXT.get(s, s)) for s in consent.scopes],
                granted_at=consent.granted_at,
                disabled=bool(client and client.disabled),
            )
        )
    return apps


async def _account_page(
    request: Request,
    current: BrowserSession,
    status: int = 200,
    error: str | None = None,
    new_key: CreatedApiKey | None = None,
) -> Response:
    container = container_of(request)
    user = await container.users.get_by_id(current.user_id)
    if user is None:
        return redirect("/login?next=/account")
    remaining = await container.mfa.remaining_recovery_codes(user.id) if user.mfa_enabled else 0
    return page(
        request,
        "account.html",
        status,
        error=error,
        user=user,
        session=current,
        recovery_left=remaining,
        apps=await _allowed_apps(container, user.id),
        revoked=request.query_params.get("revoked") == "1",
        api_keys=await container.api_keys.list(f"user:{user.id}", limit=MAX_LIVE_KEYS_PER_OWNER),
        new_key=new_key,
        key_revoked=request.query_params.get("key_revoked") == "1",
        lifetimes=KEY_LIFETIMES,
    )


@router.get("/account")
async def account(request: Request) -> Response:
    current = await _current(request)
    if current is None:
        return _to_login(request)
    return await _account_page(request, current)


# ``:path``: a client id is any VSCHAR (RFC 6749 Appendix A.1), "/" included.
@router.post("/account/consents/{client_id:path}/revoke")
async def revoke_consent(
    request: Request, client_id: str, csrf_token: OptionalField = None
) -> Response:
    """Take back a consent: the app must ask again and loses the tokens it holds for this
    user. The user is always the session's, so no one can revoke another user's consent;
    an id without a consent of theirs is 404 on the account page."""
    current = await _current(request)
    if current is None:
        return redirect("/login?next=/account")
    if not csrf_ok(request, csrf_token):
        return await _account_page(request, current, 403, CSRF_FAILED)
    ctx = audit_context(request, actor=f"user:{current.user_id}")
    if not await container_of(request).consents.revoke(current.user_id, client_id, ctx):
        return await _account_page(request, current, 404, NO_SUCH_CONSENT)
    return redirect("/account?revoked=1")


#: What the account page offers as an API key's lifetime (value: what the form sends).
KEY_LIFETIMES = (("30d", "30 days"), ("90d", "90 days"), ("365d", "1 year"), ("", "No expiry"))
NO_SUCH_KEY = "You have no API key with that id, so there was nothing to revoke."


@router.post("/account/api-keys")
async def create_api_key(
    request: Request,
    name: OptionalField = None,
    permissions: OptionalField = None,
    expires_in: OptionalField = None,
    csrf_token: OptionalField = None,
) -> Response:
    """Self-service (spec §5): a key for the signed-in user, carrying what they list (or
    everything they hold), shown once on the page that answers this form."""
    current = await _current(request)
    if current is None:
        return redirect("/login?next=/account")
    if not csrf_ok(request, csrf_token):
        return await _account_page(request, current, 403, CSRF_FAILED)
    if (expires_in or "") not in {value for value, _ in KEY_LIFETIMES}:
        return await _account_page(request, current, 400, "Choose one of the offered lifetimes.")
    container = container_of(request)
    ctx = audit_context(request, actor=f"user:{current.user_id}")
    try:
        created = await container.api_keys.create(
            ctx,
            f"user:{current.user_id}",
            name=name or "",
            permissions=(permissions or "").split(),
            expires_in=parse_duration(expires_in) if expires_in else None,
        )
    except InvalidInput as exc:
        return await _account_page(request, current, 400, exc.message)
    return await _account_page(request, current, 201, new_key=created)


@router.post("/account/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, key_id: str, csrf_token: OptionalField = None
) -> Response:
    """Only the session's own keys: anyone else's id answers as if it did not exist."""
    current = await _current(request)
    if current is None:
        return redirect("/login?next=/account")
    if not csrf_ok(request, csrf_token):
        return await _account_page(request, current, 403, CSRF_FAILED)
    container = container_of(request)
    try:
        key = await container.api_keys.get(key_id)
    except NotFound:
        key = None
    if key is None or key.owner != f"user:{current.user_id}":
        return await _account_page(request, current, 404, NO_SUCH_KEY)
    ctx = audit_context(request, actor=f"user:{current.user_id}")
    await container.api_keys.revoke(ctx, key.id)
    return redirect("/account?key_revoked=1#api-keys")


@router.get("/account/mfa")
async def enrol_form(request: Request) -> Response:
    current = await _current(request)
    if current is None:
        return _to_login(request)
    return await _enrol_page(request, current, container_of(request).mfa.new_secret())


async def _enrol_page(
    request: Request,
    current: BrowserSession,
    secret: str,
    status: int = 200,
    error: str | None = None,
) -> Response:
    container = container_of(request)
    user = await container.users.get_by_id(current.user_id)
    uri = container.mfa.otpauth_uri(secret, current.username)
    return page(
        request,
        "enroll.html",
        status,
        error=error,
        user=user,
        replacing=bool(user and user.mfa_enabled),
        secret=secret,
        secret_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr=_qr_svg(uri),
        pending=container.mfa.seal_pending(current.user_id, secret),
    )


@router.post("/account/mfa")
async def enrol_submit(
    request: Request,
    code: OptionalField = None,
    current_code: OptionalField = None,
    pending: Annotated[str, Form(max_length=512)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    """Confirm a new factor with a code from it. Replacing an enrolled factor also takes a
    code from the old one (or a recovery code): a stolen session alone cannot swap it."""
    current = await _current(request)
    if current is None:
        return _to_login(request)
    container = container_of(request)
    if not csrf_ok(request, csrf_token):
        return await _enrol_page(request, current, container.mfa.new_secret(), 403, CSRF_FAILED)
    try:
        secret = container.mfa.open_pending(current.user_id, pending)
    except InvalidInput as exc:
        return await _enrol_page(request, current, container.mfa.new_secret(), 400, exc.message)
    step = container.mfa.check_code(secret, code or "")
    if step is None:
        return await _enrol_page(request, current, secret, 400, ENROL_MISMATCH)
    ctx = audit_context(request, actor=f"user:{current.user_id}")
    user = await container.users.get_by_id(current.user_id)
    if user is not None and user.mfa_enabled:
        try:
            await container.login.confirm_second_factor(user.id, current_code or "", ctx)
        except (AuthenticationFailed, TooManyAttempts) as exc:
            return await _enrol_page(request, current, secret, exc.status, exc.message)
    enrolment = await container.mfa.activate(current.user_id, secret, ctx, used_step=step)
    return page(request, "recovery.html", user=user, codes=enrolment.recovery_codes)
