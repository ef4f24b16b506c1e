"""Signing in to the console: AuthGate's own authorization-code flow with PKCE (RFC 6749
§4.1, RFC 7636), the console being a first-party public client. The login page does the
authentication, so second factors and lockout apply as for any other application.

Two sealed cookies (``cookies.py``: AES-GCM under the master key, never readable by the
browser):

- the *flow* cookie holds ``state`` and the PKCE verifier for ten minutes, between
  ``/console`` and ``/console/callback`` (RFC 6749 §10.12, RFC 7636 §4.1);
- the *console session* cookie holds the user id, an expiry and a keyed digest of the
  AuthGate browser session it was started from: it ends when that session ends (sign-out,
  expiry, the user disabled) because every request looks the browser session up again.

(A third, the *result* cookie of ``cookies.py``, carries what one page leaves for the
next, bound to the user and that browser session.)
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.audit.events import AuditContext
from authgate.clients.models import AUTHORIZATION_CODE
from authgate.container import Container
from authgate.errors import AuthGateError
from authgate.protocol import pkce
from authgate.protocol.errors import OAuthError
from authgate.protocol.messages import OAuthRequest
from authgate.sessions.service import ACTIVE, BrowserSession
from authgate.web.admin.conventions import CONTROL
from authgate.web.console import cookies
from authgate.web.console.common import Console, ConsoleActor, is_admin
from authgate.web.deps import client_ip, container_of
from authgate.web.flow import AUTHORIZE_PATH
from authgate.web.login import CSRF_FAILED
from authgate.web.render import clear_session_cookie, csrf_ok, page, redirect, session_cookie_name

router = APIRouter(include_in_schema=False)
CLIENT_NAME = "authgate-console"
CALLBACK_PATH = "/console/callback"
FLOW_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)
_FLOW_SEAL = "console-flow"
_SESSION_SEAL = "console-session"
_REGISTRATION = AuditContext(actor="console")


def callback_uri(container: Container) -> str:
    return container.settings.issuer.rstrip("/") + CALLBACK_PATH


async def console_client(request: Request) -> str:
    """The console's client id, registered on first use (idempotent: an enabled public
    first-party client of that name with exactly the console's redirect URI is reused)."""
    container = container_of(request)
    cached = getattr(request.app.state, "console_client_id", None)
    uri = callback_uri(container)
    if isinstance(cached, str):
        client = await container.clients.get(cached)
        if client is not None and not client.disabled and client.redirect_uris == (uri,):
            return cached
    after: str | None = None
    while True:
        found = await container.clients.page(after, 200, q=CLIENT_NAME)
        for client in found:
            if (
                client.name == CLIENT_NAME
                and client.public
                and client.first_party
                and not client.disabled
                and client.redirect_uris == (uri,)
            ):
                request.app.state.console_client_id = client.client_id
                return client.client_id
        if len(found) < 200:
            break
        after = found[-1].client_id
    client, _ = await container.clients.create(
        _REGISTRATION,
        name=CLIENT_NAME,
        grant_types=[AUTHORIZATION_CODE],
        scopes=["openid"],
        redirect_uris=[uri],
        public=True,
        first_party=True,
    )
    request.app.state.console_client_id = client.client_id
    return client.client_id


async def start_sign_in(request: Request) -> Response:
    """Off to the authorization endpoint, with state and the PKCE verifier kept sealed."""
    try:
        client_id = await console_client(request)
    except AuthGateError as exc:
        return _trouble(request, f"The console cannot register itself: {exc.message}", 500)
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636 §4.1: 43-128)
    container = container_of(request)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback_uri(container),
        "scope": "openid",
        "state": state,
        "code_challenge": pkce.s256(verifier),
        "code_challenge_method": "S256",
    }
    expires = container.clock.now() + FLOW_TTL
    flow = {"s": state, "v": verifier, "c": client_id, "e": expires.timestamp()}
    response = redirect(f"{AUTHORIZE_PATH}?{urlencode(params)}")
    sealed = cookies.seal(request, flow, _FLOW_SEAL)
    cookies.set_cookie(request, response, cookies.FLOW, sealed, int(FLOW_TTL.total_seconds()))
    return response


def _trouble(request: Request, message: str, status: int = 400) -> Response:
    return page(request, "console/trouble.html", status, message=message)


async def _browser_session(request: Request) -> tuple[BrowserSession, str] | None:
    token = request.cookies.get(session_cookie_name(request))
    current = await container_of(request).sessions.lookup(token)
    if current is None or current.stage != ACTIVE or token is None:
        return None
    return current, token


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    """RFC 6749 §4.1.2: check ``state`` (and ``iss``, RFC 9207 §2.4), then redeem the code
    at the token endpoint, in this process, with the PKCE verifier."""
    container = container_of(request)
    flow_cookie = request.cookies.get(cookies.name(request, cookies.FLOW))
    flow = cookies.unseal(request, flow_cookie, _FLOW_SEAL)
    query = request.query_params
    now = container.clock.now()
    if flow is None or float(str(flow.get("e", 0))) < now.timestamp():
        return _trouble(request, "This sign-in took too long or was started elsewhere. Try again.")
    if not hmac.compare_digest(str(flow.get("s")), query.get("state", "")[:200]):
        return _trouble(request, "This sign-in answer does not belong to this browser.")
    if query.get("iss") not in (None, container.settings.issuer):
        return _trouble(request, "This sign-in answer comes from another issuer.")
    if query.get("error"):
        return _trouble(request, f"Sign-in did not finish: {query.get('error', '')[:100]}.")
    form = {
        "grant_type": AUTHORIZATION_CODE,
        "code": query.get("code", "")[:500],
        "redirect_uri": callback_uri(container),
        "code_verifier": str(flow.get("v")),
        "client_id": str(flow.get("c")),
    }
    try:
        answer = await container.oauth.token.handle(
            OAuthRequest(form, client_ip=client_ip(request))
        )
    except OAuthError as exc:
        return _trouble(request, f"Sign-in failed: {exc.description}")
    claims = await container.oauth.inspector.access_token(str(answer.body.get("access_token")))
    browser = await _browser_session(request)
    if claims is None or browser is None or browser[0].user_id != claims.get("sub"):
        return _trouble(request, "Sign-in failed: sign in to AuthGate again.")
    current, token = browser
    expires = min(current.expires_at, now + SESSION_TTL)
    data = {
        "u": current.user_id,
        "n": current.username,
        "e": expires.timestamp(),
        "b": container.digester.digest(token),
    }
    response = redirect("/console")
    ttl = max(1, int((expires - now).total_seconds()))
    sealed = cookies.seal(request, data, _SESSION_SEAL)
    cookies.set_cookie(request, response, cookies.SESSION, sealed, ttl)
    cookies.clear_cookie(request, response, cookies.FLOW)
    return response


@dataclass(frozen=True)
class _Signed:
    user_id: str
    username: str
    browser: str  # the keyed digest of the browser session it rides on


async def _signed_in(request: Request) -> _Signed | None:
    """The console session, while the browser session it came from lives on."""
    container = container_of(request)
    sealed = request.cookies.get(cookies.name(request, cookies.SESSION))
    data = cookies.unseal(request, sealed, _SESSION_SEAL)
    if data is None:
        return None
    if float(str(data.get("e", 0))) < container.clock.now().timestamp():
        return None
    browser = await _browser_session(request)
    if browser is None or browser[0].user_id != data.get("u"):
        return None
    if not hmac.compare_digest(container.digester.digest(browser[1]), str(data.get("b"))):
        return None
    return _Signed(browser[0].user_id, browser[0].username, str(data.get("b")))


def _control_free(request: Request) -> bool:
    """Control characters (NUL above all) are never part of a name, id, path or filter;
    refused here, before any of them reaches a query (spec §7: a 4xx, never a 5xx)."""
    values = [request.scope["path"], *request.query_params.values()]
    return not any(CONTROL.search(value) for value in values)


async def enter(request: Request) -> Console | Response:
    """The signed-in administrator, or the response to send instead: sign-in for nobody,
    a 403 page for someone who holds no administrative permission anywhere, a 400 page
    for control characters in the path or query."""
    if not _control_free(request):
        return _trouble(request, "The address holds control characters: remove them.")
    signed = await _signed_in(request)
    if signed is None:
        return await start_sign_in(request)
    container = container_of(request)
    held = await container.engine.permissions_anywhere(f"user:{signed.user_id}")
    actor = ConsoleActor(signed.user_id, signed.username)
    holder = f"{signed.user_id} {signed.browser}"  # this user in this browser session
    result = cookies.take_result(request, holder)
    console = Console(request, container, actor, held, result or {}, holder)
    if not is_admin(held):
        return console.render("forbidden.html", 403)
    return console


async def enter_form(
    request: Request, keep: Sequence[str] = ()
) -> tuple[Console, Mapping[str, str]] | Response:
    """:func:`enter` for a posted form, with its fields (``keep``: not trimmed), or the
    response to send instead; a form without its CSRF token changes nothing (403)."""
    c = await enter(request)
    if not isinstance(c, Console):
        return c
    fields = await c.form(keep)
    if fields is None:
        return c.refused()
    for name, value in fields.items():
        if "\x00" in value or (name not in keep and CONTROL.search(value.replace("\r\n", ""))):
            return _trouble(c.request, f"The field {name[:40]!r} holds control characters.")
    return c, fields


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """Ends the console session and the AuthGate browser session it rode on."""
    form = await request.form(max_files=0, max_fields=10)
    token = form.get("csrf_token")
    if not csrf_ok(request, token if isinstance(token, str) else None):
        return _trouble(request, CSRF_FAILED, 403)
    await container_of(request).sessions.end(request.cookies.get(session_cookie_name(request)))
    response = redirect("/?logged_out=1")
    cookies.clear_cookie(request, response, cookies.SESSION)
    cookies.clear_cookie(request, response, cookies.RESULT)
    clear_session_cookie(request, response)
    return response
