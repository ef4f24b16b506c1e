"""What every admin resource shares (docs/admin-api.md): the caller, JSON bodies, cursor
pages, ETags and ``If-Match``, ``Location`` on create, and the 403 that names the missing
permission and scope.

Every resource module builds its router with ``route_class=AdminRoute``, takes the
caller as ``admin: AdminCaller``, reads its body with :func:`read_body` (after the caller
is authenticated, so an anonymous request gets 401 whatever it sent), answers one object
with :func:`object_response` and a list with :func:`paged`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Depends, Query
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from starlette.requests import Request
from starlette.responses import Response

from authgate.audit.events import AuditContext
from authgate.container import Container
from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.admin import AccessDenied, AdminPolicy
from authgate.rbac.service import ROOT
from authgate.tokens.callers import Caller
from authgate.web.bearer import REALM, bearer_caller
from authgate.web.deps import audit_context, container_of

PREFIX = "/admin/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_KEY = 300  # longest name or id a path or cursor may carry
NO_STORE = {"Cache-Control": "no-store"}
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class PreconditionFailed(AuthGateError):
    """RFC 9110 §13.1.1: ``If-Match`` named no current representation."""

    code = "precondition_failed"
    status = 412


# -- the caller ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    """An authenticated caller of the admin API, with what routes need to serve it."""

    caller: Caller
    container: Container
    policy: AdminPolicy
    ctx: AuditContext  # the audit log names the caller as actor

    async def require(self, permission: str, scope: str = ROOT) -> None:
        await self.policy.require(self.caller, permission, scope)


async def admin_caller(request: Request) -> Admin:
    container = container_of(request)
    caller = await bearer_caller(request, container.oauth.config.admin_audience)
    return Admin(
        caller=caller,
        container=container,
        policy=AdminPolicy(container.engine, container.access),
        ctx=audit_context(request, actor=caller.member),
    )


AdminCaller = Annotated[Admin, Depends(admin_caller)]


class Problem(BaseModel):
    """Every admin error: a stable code and a sentence for people (docs/admin-api.md)."""

    error: str = Field(description="stable machine code, e.g. not_found")
    error_description: str = Field(description="what was wrong and what to do")
    permission: str | None = Field(None, description="403 only: the permission lacked")
    scope: str | None = Field(None, description="403 only: the scope it was lacked at")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


#: The error answers every admin operation may give, for ``/openapi.json``.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("invalid_request: malformed JSON, wrong types, bad query parameters"),
    401: _problem("invalid_token: no token, or a bad one (RFC 6750 §3.1)"),
    403: _problem("insufficient_scope or privilege_escalation: names permission and scope"),
    404: _problem("not_found: no such object (or one the caller may not read)"),
    409: _problem("conflict: a duplicate; or the Idempotency-Key's first request is in flight"),
    412: _problem("precondition_failed: If-Match names no current representation"),
    413: _problem("request_too_large: the body is over the size limit"),
    415: _problem("unsupported_media_type: a body that is not JSON"),
    422: _problem("idempotency_key_reused: the Idempotency-Key was used for another request"),
    503: _problem("temporarily_unavailable: the database is unreachable (Retry-After)"),
}


class AdminRoute(APIRoute):
    """Renders a refusal with the permission and scope it lacked (RFC 6750 §3.1), and
    documents every error answer in ``/openapi.json``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["responses"] = {**ERRORS, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except AccessDenied as exc:
                return denied(exc)

        return route


def denied(exc: AccessDenied) -> Response:
    headers = dict(NO_STORE)
    if exc.code == "insufficient_scope":
        headers["WWW-Authenticate"] = (
            f'{REALM}, error="insufficient_scope", scope="{exc.permission}"'
        )
    body = {
        "error": exc.code,
        "error_description": exc.message,
        "permission": exc.permission,
        "scope": exc.scope,
    }
    return Response(canonical(body), 403, headers, media_type="application/json")


# -- bodies and names ---------------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_nul(value: str) -> str:
    """No NUL and no lone surrogates: neither can be stored, nor named again."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


def no_controls(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return no_nul(value)


#: A name or id in a body: 1-300 characters, no control characters.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_KEY), AfterValidator(no_controls)
]
#: Free text (a description, a condition, an attribute value): no NUL.
Text = Annotated[str, AfterValidator(no_nul)]


class Body(BaseModel):
    """A JSON request body: exact types, no unknown members, finite numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class UnsupportedMediaType(AuthGateError):
    code = "unsupported_media_type"
    status = 415


async def read_body(request: Request, model: type[M]) -> M:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("the request needs a JSON object body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors(include_input=False, include_url=False):
            # Union members and validators appear in ``loc`` under internal names
            # (``function-after[...]``): callers see only the field's own path.
            parts = [str(p) for p in error["loc"] if not _internal(p)]
            problems.setdefault(".".join(parts) or "body", error["msg"])
        described = [f"{where}: {msg}" for where, msg in list(problems.items())[:5]]
        raise InvalidInput("; ".join(described)) from None


def _internal(part: object) -> bool:
    return isinstance(part, str) and any(mark in part for mark in "[(<")


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a body read with :func:`read_body`."""
    schema = model.model_json_schema(by_alias=True)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def path_key(value: str, what: str) -> str:
    """A name or id taken from the path; one that no object can have is simply not found."""
    try:
        if len(value) <= MAX_KEY and value.strip() == value and value:
            return no_controls(value)
    except ValueError:
        pass
    raise NotFound(f"no {what} {value[:100]!r}")


# -- answers ------------------------------------------------------------------------------


def canonical(body: Mapping[str, Any]) -> bytes:
    """The JSON bytes sent, and hashed for the ETag: sorted keys, no spaces, ASCII."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def etag(body: Mapping[str, Any]) -> str:
    """A strong entity tag (RFC 9110 §8.8.3): the SHA-256 of the canonical JSON."""
    return '"' + hashlib.sha256(canonical(body)).hexdigest() + '"'


def url(request: Request, path: str, query: Mapping[str, str] | None = None) -> str:
    """An absolute URL under the issuer (the public base URL, spec §3)."""
    base = container_of(request).settings.issuer.rstrip("/")
    return base + path + ("?" + urlencode(query) if query else "")


def quoted(name: str) -> str:
    return quote(name, safe="")


def object_response(
    body: Mapping[str, Any], status: int = 200, location: str | None = None
) -> Response:
    headers = {**NO_STORE, "ETag": etag(body)}
    if location is not None:
        headers["Location"] = location
    return Response(canonical(body), status, headers, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204, headers=NO_STORE)


_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def require_match(request: Request, current: Mapping[str, Any]) -> None:
    """``If-Match`` (optional) must name the current representation: ``*`` or one of a
    list of entity tags, compared strongly, so a weak tag never matches (RFC 9110
    §13.1.1). A stale tag: 412 and nothing changes."""
    values = request.headers.getlist("if-match")
    if not values:
        return
    header = ", ".join(values)  # RFC 9110 §5.3: repeated fields form one list
    if not header.strip():
        raise InvalidInput('If-Match is empty: send * or an entity tag such as "abc"')
    if header.strip() == "*":
        return
    tags: list[tuple[bool, str]] = []
    position = 0
    text = header.strip()
    while position < len(text):
        found = _ENTITY_TAG.match(text, position)
        if found is None or found.end() == position:
            raise InvalidInput('If-Match must be * or a list of entity tags such as "abc"')
        tags.append((found.group(1) is not None, found.group(2)))
        position = found.end()
    if not tags:
        raise InvalidInput('If-Match must be * or a list of entity tags such as "abc"')
    wanted = etag(current)
    if all(weak for weak, _ in tags):
        raise PreconditionFailed(
            "a weak entity tag (W/...) never matches If-Match (RFC 9110 §13.1.1): send "
            "the ETag exactly as GET returned it"
        )
    if not any(tag == wanted and not weak for weak, tag in tags):
        raise PreconditionFailed(
            "the object changed since that ETag was read (If-Match did not match): "
            "GET it again, then retry with the new ETag"
        )


# -- pages --------------------------------------------------------------------------------

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=2000, description="opaque: the `next` link carries it")
]


def encode_cursor(key: str) -> str:
    raw = json.dumps({"after": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> str | None:
    """The key the page starts after; a cursor this API did not give out is 400."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        after = data["after"]
        if isinstance(after, str) and after and len(after) <= MAX_KEY and no_controls(after):
            return after
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        pass
    raise InvalidInput("cursor is not one this API gave out: follow the next link of a page")


async def paged(
    request: Request,
    path: str,
    fetch: Callable[[str | None, int], Awaitable[Sequence[T]]],
    key: Callable[[T], str],
    render: Callable[[T], Mapping[str, Any]],
    limit: int,
    cursor: str | None,
) -> Response:
    """One page in the service's stable order (by name or id): the items after the
    cursor's key. An item that exists for the whole walk is seen exactly once, whatever
    is added or removed meanwhile. ``next`` is null on the last page."""
    after = decode_cursor(cursor)
    items = list(await fetch(after, limit))
    following = None
    if len(items) == limit and await fetch(key(items[-1]), 1):
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query["cursor"] = encode_cursor(key(items[-1]))
        following = url(request, path, query)
    body = {"items": [dict(render(item)) for item in items], "next": following}
    return Response(canonical(body), 200, dict(NO_STORE), media_type="application/json")
