"""The OpenID AuthZEN Authorization API 1.0 on AuthGate's decision engine (spec §4, §6).

- ``POST /access/v1/evaluation`` — the Access Evaluation API: one subject, action,
  resource and context in, ``{"decision": bool}`` out;
- ``POST /access/v1/evaluations`` — the Access Evaluations API: a batch whose top-level
  ``subject``/``action``/``resource``/``context`` are defaults each item may replace, run
  under ``options.evaluations_semantic`` (``execute_all``, ``deny_on_first_deny``,
  ``permit_on_first_permit``);
- ``GET /.well-known/authzen-configuration`` — Policy Decision Point Metadata.

The two POST endpoints are answered by a plain ASGI app in front of FastAPI (STYLE item
13): a policy enforcement point asks on every request it guards. Callers present an
AuthGate access token for the admin audience carrying ``authgate:evaluate`` (RFC 6750);
those whose token also carries ``authgate:evaluate.explain`` get the engine's reason in
each decision's ``context`` (AuthZEN "Reason Object": ``id`` and ``reason_admin``).
docs/authzen.md describes the mapping onto roles, bindings and resource paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.container import Container
from authgate.errors import InvalidInput, StorageUnavailable
from authgate.rbac.index import Decision
from authgate.rbac.permissions import check_permission
from authgate.rbac.service import check_scope
from authgate.tokens.callers import Caller
from authgate.web.bearer import BearerError, authenticate, insufficient_scope
from authgate.web.deps import container_of
from authgate.web.errors import RETRY_AFTER_SECONDS

EVALUATION_PATH = "/access/v1/evaluation"
EVALUATIONS_PATH = "/access/v1/evaluations"
METADATA_PATH = "/.well-known/authzen-configuration"
#: The permission a caller's token must carry, and the one that also shows reasons.
EVALUATE = "authgate:evaluate"
EXPLAIN = "authgate:evaluate.explain"
MAX_EVALUATIONS = 100
EXECUTE_ALL = "execute_all"
DENY_ON_FIRST_DENY = "deny_on_first_deny"
PERMIT_ON_FIRST_PERMIT = "permit_on_first_permit"
SEMANTICS = (EXECUTE_ALL, DENY_ON_FIRST_DENY, PERMIT_ON_FIRST_PERMIT)
_TUPLE = ("subject", "action", "resource", "context")
_NO_STORE = (b"cache-control", b"no-store")


# -- the request, mapped onto AuthGate's model (spec §6) ---------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    """One access evaluation: what the engine is asked, and what conditions see."""

    subject_type: str
    subject_id: str
    permission: str
    path: str
    subject: Mapping[str, Any]
    resource: Mapping[str, Any]
    action: Mapping[str, Any]
    context: Mapping[str, Any] | None


def parse_question(request: Mapping[str, Any], where: str = "") -> Question:
    """AuthZEN "The Access Evaluation API Request" → :class:`Question`; ``where`` prefixes
    messages (``evaluations[2].``). Raises :class:`InvalidInput` naming the bad field."""
    subject = _entity(request, "subject", ("type", "id"), where)
    resource = _entity(request, "resource", ("type", "id"), where)
    action = _entity(request, "action", ("name",), where)
    context = _optional_object(request, "context", where)
    name = action["name"]
    permission = name if ":" in name else f"{resource['type']}:{name}"
    try:
        check_permission(permission)
    except InvalidInput:
        raise InvalidInput(
            f"{where}action.name {name!r} asks for the permission {permission!r} (action.name "
            "when it holds ':', else resource.type:action.name), which is not resource:action "
            "with each side made of letters, digits and _ . -"
        ) from None
    properties = _optional_object(resource, "properties", f"{where}resource.")
    given = properties.get("path") if properties is not None else None
    if given is not None and not isinstance(given, str):
        raise InvalidInput(f"{where}resource.properties.path must be a string")
    raw = given if given is not None else f"{resource['type']}:{resource['id']}"
    try:
        path = check_scope(raw)
    except InvalidInput:
        source = "resource.properties.path" if given is not None else "resource.type:resource.id"
        raise InvalidInput(
            f"{where}the resource path {raw!r} ({source}) must be / or type:id segments joined "
            "by /, such as org:acme/project:42 (type: a letter, then letters, digits, _ . -; "
            "id: letters, digits and . _ : @ | + -)"
        ) from None
    return Question(
        subject["type"], subject["id"], permission, path, subject, resource, action, context
    )


def parse_batch(body: Mapping[str, Any]) -> tuple[str, list[Question]] | None:
    """AuthZEN "The Access Evaluations API Request": the semantic and one question per item
    of ``evaluations``, each item's keys replacing the top-level defaults; None when
    ``evaluations`` is absent (the request is then a single evaluation)."""
    options = _optional_object(body, "options", "")
    semantic = (options or {}).get("evaluations_semantic", EXECUTE_ALL)
    if semantic not in SEMANTICS:
        raise InvalidInput(f"options.evaluations_semantic must be one of {', '.join(SEMANTICS)}")
    items = body.get("evaluations")
    if items is None:
        return None
    if not isinstance(items, list):
        raise InvalidInput("evaluations must be an array of evaluation requests")
    if len(items) > MAX_EVALUATIONS:
        raise InvalidInput(f"at most {MAX_EVALUATIONS} evaluations in one request")
    defaults = {key: body[key] for key in _TUPLE if key in body}
    questions = []
    for n, item in enumerate(items):
        where = f"evaluations[{n}]."
        if not isinstance(item, dict):
            raise InvalidInput(f"evaluations[{n}] must be a JSON object")
        questions.append(parse_question({**defaults, **item}, where))
    return semantic, questions


def _entity(
    request: Mapping[str, Any], key: str, texts: tuple[str, ...], where: str
) -> dict[str, Any]:
    value = request.get(key)
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}{key} is required and must be a JSON object")
    for text in texts:
        if not isinstance(value.get(text), str) or not value[text]:
            raise InvalidInput(f"{where}{key}.{text} is required and must be a non-empty string")
    _optional_object(value, "properties", f"{where}{key}.")
    return value


def _optional_object(parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """An optional member that must be an object when present (JSON null counts as absent)."""
    value = parent.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(f"{where}{key} must be a JSON object")
    return value


# -- answers ------------------------------------------------------------------------------


async def decide(container: Container, question: Question) -> Decision:
    """Unknown or disabled subjects are denied by the engine, never an error (spec §6)."""
    return await container.engine.check(
        question.subject_type,
        question.subject_id,
        question.permission,
        question.path,
        subject=question.subject,
        resource=question.resource,
        action=question.action,
        context=question.context,
    )


def answer(decision: Decision, explain: bool, reason_id: str = "0") -> dict[str, Any]:
    """AuthZEN "The Access Evaluation API Response": the decision; for callers that may see
    reasons, a Reason Object as ``context`` (``reason_admin`` is for administrators, never
    for end users) plus the deciding binding or the conditions that failed to evaluate."""
    if not explain:
        return {"decision": decision.allowed}
    context: dict[str, Any] = {"id": reason_id, "reason_admin": {"en": decision.reason}}
    if decision.grant is not None:
        context["binding"] = decision.grant.to_json()
    if decision.errors:
        context["errors"] = list(decision.errors)
    return {"decision": decision.allowed, "context": context}


async def evaluate_batch(
    container: Container, semantic: str, questions: list[Question], explain: bool
) -> dict[str, Any]:
    """AuthZEN "Evaluations semantics": every answer in request order, or those up to and
    including the first deny (``deny_on_first_deny``) or permit (``permit_on_first_permit``)."""
    stop_on = {DENY_ON_FIRST_DENY: False, PERMIT_ON_FIRST_PERMIT: True}.get(semantic)
    answers = []
    for n, question in enumerate(questions):
        decision = await decide(container, question)
        answers.append(answer(decision, explain, str(n)))
        if decision.allowed is stop_on:
            break
    return {"evaluations": answers}


def pdp_metadata(issuer: str) -> dict[str, str]:
    """AuthZEN "Policy Decision Point Metadata": the identifier and the endpoints served
    (the search endpoints are not, so they are omitted)."""
    return {
        "policy_decision_point": issuer,
        "access_evaluation_endpoint": issuer + EVALUATION_PATH,
        "access_evaluations_endpoint": issuer + EVALUATIONS_PATH,
    }


router = APIRouter()


@router.get(METADATA_PATH, include_in_schema=False)
async def metadata(request: Request) -> JSONResponse:
    document = pdp_metadata(container_of(request).settings.issuer)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


# -- the plain ASGI endpoints -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    """What the access log and metrics read from ``scope["route"]``."""

    path: str


_ROUTES = {EVALUATION_PATH: _Route(EVALUATION_PATH), EVALUATIONS_PATH: _Route(EVALUATIONS_PATH)}


class _Refused(Exception):
    def __init__(self, status: int, code: str, description: str, **headers: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": code, "error_description": description}
        self.headers = headers


class AuthZenFastPath:
    """Answers the two evaluation endpoints and hands every other request to ``app``."""

    def __init__(self, app: ASGIApp, container_of: Callable[[], Container]) -> None:
        self.app = app
        self._container_of = container_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        try:
            if scope["method"] != "POST":
                raise _Refused(405, "method_not_allowed", "use POST", Allow="POST")
            body = await self._answer(scope, receive)
        except _Refused as refused:
            await _send_json(send, refused.status, refused.body, refused.headers)
            return
        except BearerError as error:
            body = {"error": error.code, "error_description": error.message}
            await _send_json(send, error.status, body, {"WWW-Authenticate": error.challenge})
            return
        except InvalidInput as error:
            await _send_json(send, 400, {"error": error.code, "error_description": error.message})
            return
        except StorageUnavailable:
            description = "the database is unreachable; try again shortly"
            await _send_json(
                send,
                503,
                {"error": "temporarily_unavailable", "error_description": description},
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
            return
        await _send_json(send, 200, body)

    async def _answer(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        authorization = content_type = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        container = self._container_of()
        client = scope.get("client")
        caller = await _caller(container, authorization, api_key, client[0] if client else None)
        request = await _read_json(receive, content_type)
        explain = caller.delegates(EXPLAIN)
        if scope["path"] == EVALUATION_PATH:
            return answer(await decide(container, parse_question(request)), explain)
        batch = parse_batch(request)
        if batch is None:  # no evaluations array: a single evaluation (backwards compatible)
            return answer(await decide(container, parse_question(request)), explain)
        return await evaluate_batch(container, *batch, explain)


async def _caller(
    container: Container, authorization: str | None, api_key: str | None, source_ip: str | None
) -> Caller:
    """RFC 6750: a token for AuthGate's API whose scope carries ``authgate:evaluate``, or
    an API key that may use it (spec §6)."""
    caller = await authenticate(
        container,
        authorization,
        container.oauth.config.admin_audience,
        api_key=api_key,
        source_ip=source_ip,
    )
    if not caller.delegates(EVALUATE):
        raise insufficient_scope(EVALUATE)
    return caller


async def _read_json(receive: Receive, content_type: str | None) -> dict[str, Any]:
    """AuthZEN "HTTPS Binding": a JSON object sent as ``application/json``. The body size
    is bounded by ``BodyLimitMiddleware`` before this reads it."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise _Refused(415, "unsupported_media_type", "send the request body as application/json")
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        request = json.loads(b"".join(chunks).decode("utf-8"))  # RFC 8259 §8.1
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidInput("the request body is not valid UTF-8 JSON") from None
    if not isinstance(request, dict):
        raise InvalidInput("the request body must be a JSON object")
    return request


async def _send_json(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        _NO_STORE,
    ]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
