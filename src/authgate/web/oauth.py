"""HTTP adapter for the OAuth engine's back-channel endpoints: token, introspection,
revocation. It turns Starlette requests into neutral ones and errors into RFC JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from authgate.audit.events import AuditTag
from authgate.protocol.errors import InvalidRequest, OAuthError
from authgate.protocol.messages import NO_STORE, OAuthRequest, OAuthResponse
from authgate.web.deps import audit_context, client_ip, container_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger("authgate.oauth")

TOKEN_PATH = "/oauth/token"
INTROSPECT_PATH = "/oauth/introspect"
REVOKE_PATH = "/oauth/revoke"


async def neutral_request(request: Request) -> OAuthRequest:
    """RFC 6749 §3.2: parameters come form-encoded in the body, each at most once."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("send the parameters as application/x-www-form-urlencoded")
    form = await request.form(max_files=0, max_fields=100)
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequest("file uploads are not accepted here")
        if key in values:
            repeated.add(key)
        values.setdefault(key, value)
    return OAuthRequest(
        form=values,
        authorization=request.headers.get("authorization"),
        client_ip=client_ip(request),
        repeated=frozenset(repeated),
    )


def render(response: OAuthResponse) -> Response:
    return JSONResponse(response.body, status_code=response.status, headers=response.headers)


def render_error(error: OAuthError) -> Response:
    """RFC 6749 §5.2: the error object, its status, no caching."""
    headers = {**NO_STORE, **error.headers}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _run(
    request: Request, work: Callable[[OAuthRequest], Awaitable[OAuthResponse]]
) -> Response:
    try:
        return render(await work(await neutral_request(request)))
    except OAuthError as error:
        if error.detail:
            log.info("oauth error", extra={"error": error.error, "detail": error.detail})
        if error.event:
            container = container_of(request)
            await container.audit.record(
                AuditTag(error.event), audit_context(request), details={"error": error.error}
            )
        return render_error(error)


@router.post(TOKEN_PATH)
async def token(request: Request) -> Response:
    return await _run(request, container_of(request).oauth.token.handle)


@router.post(INTROSPECT_PATH)
async def introspect(request: Request) -> Response:
    return await _run(request, container_of(request).oauth.introspection.handle)


@router.post(REVOKE_PATH)
async def revoke(request: Request) -> Response:
    container = container_of(request)

    async def work(neutral: OAuthRequest) -> OAuthResponse:
        response, revoked = await container.oauth.revocation.handle(neutral)
        if revoked is not None:
            await container.audit.record(
                AuditTag.OAUTH_TOKEN_REVOKED, audit_context(request), subject=revoked
            )
        return response

    return await _run(request, work)
