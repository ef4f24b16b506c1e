"""The browser side of the OAuth provider: the authorization endpoint with its login and
consent interactions, UserInfo, and RP-initiated logout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from authgate.protocol.authorize import (
    AuthorizationState,
    Login,
    NeedConsent,
    NeedLogin,
    Outcome,
    RedirectTo,
    ShowError,
)
from authgate.protocol.redirect_uris import matches
from authgate.sessions.service import ACTIVE
from authgate.web.deps import audit_context, container_of
from authgate.web.flow import AUTHORIZE_PATH, csp_sources, seal, unseal
from authgate.web.login import CSRF_FAILED
from authgate.web.render import (
    clear_session_cookie,
    csrf_ok,
    page,
    redirect,
    session_cookie_name,
)

router = APIRouter(include_in_schema=False)
USERINFO_PATH = "/oauth/userinfo"
END_SESSION_PATH = "/oauth/logout"
OptionalField = Annotated[str | None, Form(max_length=4096)]
SCOPE_TEXT = {
    "openid": "Know who you are (your user id)",
    "profile": "See your username",
    "email": "See your e-mail address",
    "offline_access": "Keep access while you are away (refresh tokens)",
}


async def _login_of(request: Request) -> Login | None:
    container = container_of(request)
    current = await container.sessions.lookup(request.cookies.get(session_cookie_name(request)))
    if current is None or current.stage != ACTIVE:
        return None
    return Login(current.user_id, current.auth_time, tuple(current.amr))


async def _run(request: Request, params: dict[str, str], started_at: datetime) -> Outcome:
    container = container_of(request)
    login = await _login_of(request)
    consented: frozenset[str] = frozenset()
    if login is not None and params.get("client_id"):
        consented = await container.consents.scopes(login.user_id, params["client_id"][:200])
    state = AuthorizationState(
        params=params, login=login, started_at=started_at, consented=consented
    )
    return await container.authorize.run(state)


async def _answer(
    request: Request, outcome: Outcome, params: dict[str, str], started_at: datetime
) -> Response:
    if isinstance(outcome, RedirectTo):
        return RedirectResponse(outcome.url, status_code=302, headers={"Cache-Control": "no-store"})
    if isinstance(outcome, ShowError):
        return page(request, "oauth_error.html", 400, message=outcome.message)
    sealed = seal(request, params, started_at)
    if isinstance(outcome, NeedLogin):
        resume = f"{AUTHORIZE_PATH}/resume?r={sealed}"
        force = "&force=1" if outcome.reason != "no_session" else ""
        hint = params.get("login_hint", "")[:150]
        hint_part = f"&login_hint={quote(hint)}" if hint else ""
        return redirect(f"/login?next={quote(resume)}{force}{hint_part}")
    assert isinstance(outcome, NeedConsent)
    container = container_of(request)
    client = await container.clients.get(outcome.client.client_id)
    return page(
        request,
        "consent.html",
        form_action=csp_sources(client.redirect_uris) if client else [],
        client_name=client.name if client else outcome.client.client_id,
        scopes=[(s, SCOPE_TEXT.get(s, s)) for s in outcome.scopes],
        sealed=sealed,
    )


def _single(items: list[tuple[str, str]]) -> dict[str, str] | None:
    """RFC 6749 §3.1: parameters must not be repeated."""
    result: dict[str, str] = {}
    for key, value in items:
        if key in result or len(value) > 4000:
            return None
        result[key] = value
    return result


@router.get(AUTHORIZE_PATH)
@router.post(AUTHORIZE_PATH)
async def authorize(request: Request) -> Response:
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=50)
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    params = _single(items)
    if params is None:
        return page(
            request, "oauth_error.html", 400, message="A parameter is repeated or too long."
        )
    started_at = container_of(request).clock.now()
    return await _answer(request, await _run(request, params, started_at), params, started_at)


@router.get(AUTHORIZE_PATH + "/resume")
async def resume(request: Request, r: str = "") -> Response:
    unsealed = unseal(request, r[:16000])
    if unsealed is None:
        return page(
            request,
            "oauth_error.html",
            400,
            message="This sign-in link is broken; start again from the application.",
        )
    params, started_at = unsealed
    return await _answer(request, await _run(request, params, started_at), params, started_at)


@router.post("/oauth/consent")
async def consent(
    request: Request,
    sealed: Annotated[str, Form(max_length=16000)] = "",
    decision: OptionalField = None,
    csrf_token: OptionalField = None,
) -> Response:
    container = container_of(request)
    unsealed = unseal(request, sealed)
    if unsealed is None:
        return page(
            request,
            "oauth_error.html",
            400,
            message="This consent form is broken; start again from the application.",
        )
    params, started_at = unsealed
    if not csrf_ok(request, csrf_token):
        return page(request, "oauth_error.html", 403, message=CSRF_FAILED)
    login = await _login_of(request)
    if login is None:
        return await _answer(request, NeedLogin("no_session"), params, started_at)
    state = AuthorizationState(params=params, login=login, started_at=started_at)
    if decision != "allow":
        return await _answer(request, await container.authorize.deny(state), params, started_at)
    outcome = await _run(request, params, started_at)
    if isinstance(outcome, NeedConsent):
        await container.consents.grant(
            login.user_id,
            outcome.client.client_id,
            outcome.scopes,
            audit_context(request, actor=f"user:{login.user_id}"),
        )
        outcome = await _run(request, params, started_at)
    return await _answer(request, outcome, params, started_at)


def _bearer_error(status: int, error: str, description: str) -> Response:
    header = f'Bearer realm="authgate", error="{error}", error_description="{description}"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": header, "Cache-Control": "no-store"},
    )


@router.get(USERINFO_PATH)
@router.post(USERINFO_PATH)
async def userinfo(request: Request) -> Response:
    """OpenID Connect Core §5.3; errors per RFC 6750 §3.1."""
    container = container_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return JSONResponse(
            {
                "error": "invalid_request",
                "error_description": "send the access token as a Bearer token",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="authgate"'},
        )
    claims = await container.oauth.inspector.access_token(token.strip())
    if claims is None:
        return _bearer_error(
            401, "invalid_token", "the access token is invalid, expired or revoked"
        )
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        return _bearer_error(403, "insufficient_scope", "the token lacks the openid scope")
    user = await container.users.get_by_id(str(claims["sub"]))
    if user is None or user.disabled:
        return _bearer_error(
            401, "invalid_token", "the access token is invalid, expired or revoked"
        )
    body: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        body["preferred_username"] = user.username
    if "email" in scopes and user.email:
        body["email"] = user.email
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get(END_SESSION_PATH)
async def end_session_form(request: Request) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0 §2: confirm, then sign out."""
    params = dict(request.query_params)
    sources: list[str] = []
    client_id = params.get("client_id") or await _client_of_hint(
        request, params.get("id_token_hint")
    )
    if params.get("post_logout_redirect_uri") and client_id:
        client = await container_of(request).clients.get(client_id[:200])
        sources = csp_sources(client.post_logout_redirect_uris) if client else []
    return page(request, "end_session.html", form_action=sources, params=urlencode(params))


@router.post(END_SESSION_PATH)
async def end_session(
    request: Request,
    params: Annotated[str, Form(max_length=8000)] = "",
    csrf_token: OptionalField = None,
) -> Response:
    container = container_of(request)
    if not csrf_ok(request, csrf_token):
        return page(request, "oauth_error.html", 403, message=CSRF_FAILED)
    values = dict(parse_qsl(params))
    cookie = request.cookies.get(session_cookie_name(request))
    await container.sessions.end(cookie)
    target = "/?logged_out=1"
    post_logout = values.get("post_logout_redirect_uri")
    client_id = values.get("client_id") or await _client_of_hint(
        request, values.get("id_token_hint")
    )
    if post_logout and client_id:
        client = await container.clients.get(client_id)
        # Only a registered post-logout redirect URI, matched exactly (§3).
        if client is not None and matches(client.post_logout_redirect_uris, post_logout):
            target = post_logout
            if values.get("state"):
                target += ("&" if "?" in target else "?") + urlencode({"state": values["state"]})
    response = redirect(target)
    clear_session_cookie(request, response)
    return response


async def _client_of_hint(request: Request, hint: str | None) -> str | None:
    """The ``aud`` of an ID token we signed (expired ones are fine as hints, §2)."""
    if not hint:
        return None
    verified = await container_of(request).oauth.signer.verify(hint)
    if verified is None or verified[1].get("iss") != container_of(request).settings.issuer:
        return None
    aud = verified[1].get("aud")
    return aud if isinstance(aud, str) else None
