"""OpenID AuthZEN Authorization API 1.0 over HTTP: the Access Evaluation and Access
Evaluations APIs (with default values and the three evaluations semantics), Policy
Decision Point Metadata, the HTTPS binding's errors and X-Request-ID, and AuthGate's
mapping onto its model (PRODUCT §6): subjects, permissions, resource paths, conditions,
and who may see reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.web.authzen import MAX_EVALUATIONS
from tests.conformance.conftest import ORDERS, Registered, client_credentials, sqlite_only

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"
METADATA = "/.well-known/authzen-configuration"
EVALUATE = "authgate:evaluate"
EXPLAIN = "authgate:evaluate.explain"
INTEROP_DIR = Path(__file__).parents[1] / "interop" / "authzen"
OWNER_ONLY = "resource.properties.owner == subject.properties.email"

CAROL = {"type": "user", "id": "u-carol"}
READ = {"name": "read"}


# -- the world: a user, roles, scoped and conditional bindings, callers -------------------


@pytest.fixture
async def world(container: Container) -> None:
    """carol (id ``u-carol``, department sales) reads every document in ``folder:f1``,
    edits documents she owns anywhere, and may approve documents while the request's
    context says it is office hours; the client ``robot`` reads reports."""
    await container.users.create(
        "carol",
        CLI,
        user_id="u-carol",
        email="carol@example.com",
        attributes={"department": "sales"},
    )
    access = container.access
    await access.create_role(CLI, "doc-reader", ["document:read"])
    await access.create_role(CLI, "doc-editor", ["document:edit"], inherits=["doc-reader"])
    await access.create_role(CLI, "approver", ["document:approve"])
    await access.create_role(CLI, "sales-only", ["ledger:read"])
    await access.bind(CLI, "doc-reader", "user:carol", "folder:f1")
    await access.bind(CLI, "doc-editor", "user:carol", "/", OWNER_ONLY)
    await access.bind(CLI, "approver", "user:carol", "/", "context.office_hours == true")
    await access.bind(
        CLI, "sales-only", "user:carol", "/", "subject.properties.department == 'sales'"
    )


@pytest.fixture
async def robot(container: Container) -> str:
    client, _ = await container.clients.create(
        CLI, name="Report robot", grant_types=["client_credentials"]
    )
    await container.access.create_role(CLI, "report-reader", ["report:read"])
    await container.access.bind(CLI, "report-reader", f"client:{client.client_id}", "/")
    return client.client_id


async def _caller(container: Container, http: httpx.AsyncClient, scope: str) -> str:
    """A policy enforcement point: a client holding ``scope`` through a role bound at /,
    with an access token for AuthGate's own API carrying it."""
    client, secret = await container.clients.create(
        CLI, name=f"PEP {scope}", grant_types=["client_credentials"]
    )
    role = "pep-" + scope.replace(" ", "-").replace(":", "-")
    await container.access.create_role(CLI, role, scope.split())
    await container.access.bind(CLI, role, f"client:{client.client_id}", "/")
    tokens = await client_credentials(
        http,
        Registered(client.client_id, secret),
        resource=container.oauth.config.admin_audience,
        scope=scope,
    )
    assert set(tokens["scope"].split()) == set(scope.split())
    return str(tokens["access_token"])


@pytest.fixture
async def pep(container: Container, http: httpx.AsyncClient) -> httpx.AsyncClient:
    """``http`` authenticated as a caller holding ``authgate:evaluate`` only."""
    token = await _caller(container, http, EVALUATE)
    http.headers["Authorization"] = f"Bearer {token}"
    return http


@pytest.fixture
async def explainer(container: Container, http: httpx.AsyncClient) -> httpx.AsyncClient:
    """``http`` authenticated as a caller that may also see reasons."""
    token = await _caller(container, http, f"{EVALUATE} {EXPLAIN}")
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def ask(
    subject: dict[str, Any], action: dict[str, Any], resource: dict[str, Any], **rest: Any
) -> dict[str, Any]:
    return {"subject": subject, "action": action, "resource": resource, **rest}


async def decision(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(EVALUATION, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


async def batch(http: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.post(EVALUATIONS, json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"evaluations"}, result  # §"Access Evaluations API Response"
    return list(result["evaluations"])


def doc(doc_id: str, **properties: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": "document", "id": doc_id}
    if properties:
        resource["properties"] = properties
    return resource


# -- JSON Schema (the working group's own schemas, checked without a validator library) ---


#: What evaluation-response.schema.json requires, for when the file is not at hand.
_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["decision"],
    "properties": {"decision": {"type": "boolean"}, "context": {"type": "object"}},
}


@pytest.fixture(scope="module")
def response_schema() -> dict[str, Any]:
    """The working group's Access Evaluation API Response schema."""
    path = INTEROP_DIR / "evaluation-response.schema.json"
    return dict(json.loads(path.read_text())) if path.exists() else _RESPONSE_SCHEMA


_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "number": (int, float),
}


def conforms(instance: Any, schema: dict[str, Any], where: str = "$") -> None:
    """The subset of JSON Schema the AuthZEN schemas use: type, required, properties."""
    kind = schema.get("type")
    if kind is not None:
        assert isinstance(instance, _TYPES[kind]), f"{where} is not {kind}: {instance!r}"
    if isinstance(instance, dict):
        for key in schema.get("required", ()):
            assert key in instance, f"{where} lacks {key}"
        for key, sub in schema.get("properties", {}).items():
            if key in instance:
                conforms(instance[key], sub, f"{where}.{key}")


# -- Policy Decision Point Metadata -------------------------------------------------------


async def test_metadata_names_the_pdp_and_both_endpoints(
    http: httpx.AsyncClient, container: Container
) -> None:
    """ "Policy Decision Point Metadata": policy_decision_point (the identifier the
    well-known URL is derived from), access_evaluation_endpoint,
    access_evaluations_endpoint; endpoints not served (search) are omitted."""
    response = await http.get(METADATA)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    issuer = container.settings.issuer
    assert response.json() == {
        "policy_decision_point": issuer,
        "access_evaluation_endpoint": issuer + EVALUATION,
        "access_evaluations_endpoint": issuer + EVALUATIONS,
    }
    assert "max-age" in response.headers["cache-control"]


# -- the Access Evaluation API ------------------------------------------------------------


async def test_permit_and_deny(
    pep: httpx.AsyncClient, world: None, response_schema: dict[str, Any]
) -> None:
    """A decision is a 200 whatever it says; without the explain permission the response
    is the bare decision."""
    allowed = await decision(pep, ask(CAROL, READ, doc("d1", path="folder:f1/document:d1")))
    denied = await decision(pep, ask(CAROL, READ, doc("d2", path="folder:f2/document:d2")))
    assert allowed == {"decision": True}
    assert denied == {"decision": False}
    conforms(allowed, response_schema)
    conforms(denied, response_schema)


async def test_user_by_id_username_or_identity(pep: httpx.AsyncClient, world: None) -> None:
    """§6: subject.id is the user's id, else the username; ``identity`` means user."""
    resource = doc("d1", path="folder:f1/document:d1")
    for subject in (
        {"type": "user", "id": "u-carol"},
        {"type": "user", "id": "carol"},
        {"type": "user", "id": "Carol"},  # usernames compare case-insensitively
        {"type": "identity", "id": "u-carol"},
    ):
        assert (await decision(pep, ask(subject, READ, resource)))["decision"] is True, subject


async def test_client_subject(pep: httpx.AsyncClient, robot: str) -> None:
    subject = {"type": "client", "id": robot}
    report = {"type": "report", "id": "q3"}
    assert (await decision(pep, ask(subject, READ, report)))["decision"] is True
    assert (await decision(pep, ask(subject, {"name": "write"}, report)))["decision"] is False


async def test_unknown_or_disabled_subject_is_a_deny_not_an_error(
    pep: httpx.AsyncClient, world: None, robot: str, container: Container
) -> None:
    resource = doc("d1", path="folder:f1/document:d1")
    for subject in (
        {"type": "user", "id": "nobody"},
        {"type": "client", "id": "no-such-client"},
        {"type": "client", "id": "u-carol"},  # a user is not a client
        {"type": "user", "id": robot},  # nor a client a user
        {"type": "group", "id": "carol"},  # not a subject type AuthGate knows
    ):
        assert await decision(pep, ask(subject, READ, resource)) == {"decision": False}
    await container.users.set_disabled("carol", True, CLI)
    assert await decision(pep, ask(CAROL, READ, resource)) == {"decision": False}


async def test_permission_is_action_name_or_type_colon_name(
    pep: httpx.AsyncClient, world: None
) -> None:
    """§6: action.name when it contains ':', else resource.type + ':' + action.name."""
    in_f1 = {"path": "folder:f1/document:d1"}
    photo = {"type": "photo", "id": "p1", "properties": in_f1}
    assert (await decision(pep, ask(CAROL, READ, photo)))["decision"] is False  # photo:read
    asked = ask(CAROL, {"name": "document:read"}, photo)
    assert (await decision(pep, asked))["decision"] is True


async def test_resource_path_from_type_and_id_or_properties(
    pep: httpx.AsyncClient, world: None
) -> None:
    """§6: the path is resource.properties.path when given, else type:id; a binding on
    ``folder:f1`` covers everything below it and nothing beside it."""
    in_f1 = doc("d1", path="folder:f1/document:d1")
    cases = [
        ({"type": "folder", "id": "f1"}, {"name": "document:read"}, True),  # folder:f1 itself
        (doc("d1"), READ, False),  # document:d1 is not under folder:f1
        (in_f1, READ, True),
        (doc("d1", path="/folder:f1/document:d1/"), READ, True),  # slashes around: the same
        (doc("d1", path="folder:f10/document:d1"), READ, False),  # segments are whole
        (doc("d1", path="/"), READ, False),  # the root is above the binding
    ]
    for resource, action, expected in cases:
        result = await decision(pep, ask(CAROL, action, resource))
        assert result["decision"] is expected, resource


# -- conditions -----------------------------------------------------------------------------


async def test_condition_sees_the_request_as_sent(pep: httpx.AsyncClient, world: None) -> None:
    """§6: conditions read resource, action and context as the request sent them."""
    edit = {"name": "edit"}
    mine = doc("d9", owner="carol@example.com")
    theirs = doc("d9", owner="dave@example.com")
    assert (await decision(pep, ask(CAROL, edit, mine)))["decision"] is True
    assert (await decision(pep, ask(CAROL, edit, theirs)))["decision"] is False
    approve = {"name": "approve"}
    during = ask(CAROL, approve, doc("d9"), context={"office_hours": True})
    after = ask(CAROL, approve, doc("d9"), context={"office_hours": False})
    assert (await decision(pep, during))["decision"] is True
    assert (await decision(pep, after))["decision"] is False


async def test_stored_user_properties_win_over_request_ones(
    pep: httpx.AsyncClient, world: None
) -> None:
    """§6: subject.properties holds the stored attributes and e-mail; stored values win
    over request-supplied ones of the same name, other request properties stay."""
    ledger = {"type": "ledger", "id": "2025"}
    assert (await decision(pep, ask(CAROL, READ, ledger)))["decision"] is True
    claims_ops = {**CAROL, "properties": {"department": "ops"}}
    assert (await decision(pep, ask(claims_ops, READ, ledger)))["decision"] is True
    impostor = {**CAROL, "properties": {"email": "dave@example.com"}}
    edit = ask(impostor, {"name": "edit"}, doc("d9", owner="dave@example.com"))
    assert (await decision(pep, edit))["decision"] is False


async def test_a_condition_that_fails_to_evaluate_denies_and_says_why(
    explainer: httpx.AsyncClient, world: None
) -> None:
    """A missing key makes the owner condition an evaluation error: never an allow; the
    explaining caller is told which binding failed and how."""
    result = await decision(explainer, ask(CAROL, {"name": "edit"}, doc("d9")))
    assert result["decision"] is False
    context = result["context"]
    assert "failed to evaluate" in context["reason_admin"]["en"]
    assert len(context["errors"]) == 1
    assert OWNER_ONLY in context["errors"][0]


async def test_a_failing_condition_is_a_plain_deny_for_other_callers(
    pep: httpx.AsyncClient, world: None
) -> None:
    assert await decision(pep, ask(CAROL, {"name": "edit"}, doc("d9"))) == {"decision": False}


# -- reasons --------------------------------------------------------------------------------


async def test_explaining_callers_get_a_reason_object(
    explainer: httpx.AsyncClient, world: None, response_schema: dict[str, Any]
) -> None:
    """ "Reason Object": ``id`` and ``reason_admin`` (a Reason Field: language → text); an
    allow also names the binding that decided it."""
    allowed = await decision(explainer, ask(CAROL, READ, doc("d1", path="folder:f1/document:d1")))
    conforms(allowed, response_schema)
    context = allowed["context"]
    assert context["id"] == "0"
    assert set(context["reason_admin"]) == {"en"}
    assert "allowed by binding" in context["reason_admin"]["en"]
    assert context["binding"]["role"] == "doc-reader"
    assert context["binding"]["scope"] == "folder:f1"
    denied = await decision(explainer, ask(CAROL, READ, doc("d2")))
    assert denied["decision"] is False
    assert "no binding" in denied["context"]["reason_admin"]["en"]
    assert "binding" not in denied["context"]
    unknown = await decision(explainer, ask({"type": "user", "id": "nobody"}, READ, doc("d2")))
    assert "unknown user" in unknown["context"]["reason_admin"]["en"]


async def test_explain_alone_does_not_allow_evaluating(
    container: Container, http: httpx.AsyncClient
) -> None:
    token = await _caller(container, http, EXPLAIN)
    response = await http.post(
        EVALUATION,
        json=ask(CAROL, READ, doc("d1")),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


# -- the Access Evaluations API -----------------------------------------------------------


def three(semantic: str | None, *decisions: bool) -> dict[str, Any]:
    """Three evaluations for carol, each resource inside folder:f1 (allowed) or not."""
    items = [
        {"resource": doc(f"d{n}", path=f"folder:{'f1' if ok else 'f2'}/document:d{n}")}
        for n, ok in enumerate(decisions)
    ]
    body: dict[str, Any] = {"subject": CAROL, "action": READ, "evaluations": items}
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic}
    return body


@pytest.mark.parametrize(
    ("semantic", "decisions", "answered"),
    [
        pytest.param(None, (True, False, True), 3, id="default-is-execute_all"),
        pytest.param("execute_all", (True, False, True), 3, id="execute_all"),
        pytest.param("deny_on_first_deny", (True, False, True), 2, id="deny_on_first_deny"),
        pytest.param("deny_on_first_deny", (True, True, True), 3, id="deny_on_first_deny-none"),
        pytest.param("permit_on_first_permit", (False, True, False), 2, id="permit_on_first"),
        pytest.param("permit_on_first_permit", (True, False, True), 1, id="permit_first_item"),
        pytest.param("permit_on_first_permit", (False, False, False), 3, id="permit-none"),
    ],
)
async def test_evaluations_semantics(
    pep: httpx.AsyncClient,
    world: None,
    response_schema: dict[str, Any],
    semantic: str | None,
    decisions: tuple[bool, ...],
    answered: int,
) -> None:
    """ "Evaluations semantics": the answers in request order; a short-circuiting semantic
    stops after the deciding evaluation, which is the last one returned."""
    results = await batch(pep, three(semantic, *decisions))
    assert results == [{"decision": d} for d in decisions[:answered]]
    for item in results:
        conforms(item, response_schema)


async def test_batch_items_inherit_and_override_defaults(
    pep: httpx.AsyncClient, world: None
) -> None:
    """ "Default values": top-level subject, action, resource and context apply to every
    item; a key an item gives replaces the default whole (not merged)."""
    body = {
        "subject": CAROL,
        "action": {"name": "approve"},
        "resource": doc("d1", path="folder:f1/document:d1"),
        "context": {"office_hours": True},
        "evaluations": [
            {},  # all four defaults: approve during office hours
            {"context": {"office_hours": False}},
            {"action": READ},
            {"action": READ, "resource": doc("d2")},
            {"subject": {"type": "user", "id": "nobody"}},
            {"context": {}},  # the default context is replaced, not merged: condition errs
        ],
    }
    assert [r["decision"] for r in await batch(pep, body)] == [
        True,
        False,
        True,
        False,
        False,
        False,
    ]


async def test_evaluations_without_the_array_is_a_single_evaluation(
    pep: httpx.AsyncClient, world: None
) -> None:
    """ "If an evaluations array is NOT present, the Access Evaluations Request behaves in a
    backwards-compatible manner with the (single) Access Evaluation API Request"."""
    body = ask(CAROL, READ, doc("d1", path="folder:f1/document:d1"))
    response = await pep.post(EVALUATIONS, json=body)
    assert response.status_code == 200
    assert response.json() == {"decision": True}
    empty = await pep.post(EVALUATIONS, json={**body, "evaluations": []})
    assert empty.json() == {"evaluations": []}


async def test_batch_reasons_are_numbered_by_position(
    explainer: httpx.AsyncClient, world: None
) -> None:
    results = await batch(explainer, three(None, True, False))
    assert [r["context"]["id"] for r in results] == ["0", "1"]
    assert [r["decision"] for r in results] == [True, False]


@sqlite_only
async def test_one_bad_item_refuses_the_whole_batch(pep: httpx.AsyncClient, world: None) -> None:
    body = three(None, True, True, True)
    body["evaluations"][1]["resource"] = {"type": "document"}
    response = await pep.post(EVALUATIONS, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "evaluations[1].resource.id" in response.json()["error_description"]


@sqlite_only
async def test_batch_size_is_limited(pep: httpx.AsyncClient, world: None) -> None:
    items = [{"resource": {"type": "document", "id": str(n)}} for n in range(MAX_EVALUATIONS)]
    body = {"subject": CAROL, "action": READ, "evaluations": items}
    assert len(await batch(pep, body)) == MAX_EVALUATIONS
    body["evaluations"] = [*items, items[0]]
    response = await pep.post(EVALUATIONS, json=body)
    assert response.status_code == 400
    assert f"at most {MAX_EVALUATIONS}" in response.json()["error_description"]


# -- the HTTPS binding: request validation, authentication, X-Request-ID ------------------

_GOOD = ask(CAROL, READ, doc("d1"))


@sqlite_only
@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        pytest.param(
            EVALUATION, {"action": READ, "resource": doc("d1")}, "subject", id="no-subject"
        ),
        pytest.param(EVALUATION, {**_GOOD, "subject": "carol"}, "subject", id="subject-string"),
        pytest.param(
            EVALUATION, {**_GOOD, "subject": {"type": "user", "id": 7}}, "subject.id", id="id-int"
        ),
        pytest.param(EVALUATION, {**_GOOD, "subject": {"id": "u"}}, "subject.type", id="no-type"),
        pytest.param(
            EVALUATION, {**_GOOD, "subject": {**CAROL, "properties": []}}, "subject.properties"
        ),
        pytest.param(EVALUATION, {**_GOOD, "action": {}}, "action.name", id="no-action-name"),
        pytest.param(EVALUATION, {**_GOOD, "resource": {"id": "d1"}}, "resource.type"),
        pytest.param(EVALUATION, {**_GOOD, "context": "now"}, "context", id="context-string"),
        pytest.param(
            EVALUATION, {**_GOOD, "action": {"name": "read all"}}, "action.name", id="bad-perm"
        ),
        pytest.param(
            EVALUATION, {**_GOOD, "action": {"name": "a:b:c"}}, "action.name", id="two-colons"
        ),
        pytest.param(
            EVALUATION,
            {**_GOOD, "resource": {"type": "route", "id": "/todos/{id}"}},
            "resource path",
            id="slash-in-id",
        ),
        pytest.param(
            EVALUATION, {**_GOOD, "resource": doc("d1", path="org:a//x")}, "resource path"
        ),
        pytest.param(EVALUATION, {**_GOOD, "resource": doc("d1", path=42)}, "properties.path"),
        pytest.param(EVALUATIONS, {"evaluations": {}}, "evaluations", id="evaluations-object"),
        pytest.param(EVALUATIONS, {"evaluations": ["x"]}, "evaluations[0]", id="item-string"),
        pytest.param(
            EVALUATIONS,
            {**_GOOD, "evaluations": [{}], "options": {"evaluations_semantic": "any"}},
            "evaluations_semantic",
            id="bad-semantic",
        ),
        pytest.param(EVALUATIONS, {**_GOOD, "options": []}, "options", id="options-array"),
        pytest.param(
            EVALUATIONS, {"evaluations": [{}]}, "evaluations[0].subject", id="no-defaults"
        ),
    ],
)
async def test_malformed_requests_are_400(
    pep: httpx.AsyncClient, world: None, path: str, body: dict[str, Any], names: str
) -> None:
    """ "Error Responses": 400 for a bad request, with a message naming what is wrong."""
    response = await pep.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert names in response.json()["error_description"]


@sqlite_only
@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe{", b"[" * 100_00 + b"]" * 100_00],
    ids=["empty", "truncated", "array", "string", "not-utf8", "deeply-nested"],
)
async def test_bodies_that_are_not_a_json_object_are_400(
    pep: httpx.AsyncClient, content: bytes
) -> None:
    for path in (EVALUATION, EVALUATIONS):
        response = await pep.post(
            path, content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"


@sqlite_only
@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_bodies_not_sent_as_json_are_415(
    pep: httpx.AsyncClient, content_type: str | None
) -> None:
    """ "HTTPS Access Evaluation Request": the content-type is application/json."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = await pep.post(EVALUATION, content=json.dumps(_GOOD).encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    with_charset = {"Content-Type": "application/json; charset=utf-8"}
    ok = await pep.post(EVALUATION, content=json.dumps(_GOOD).encode(), headers=with_charset)
    assert ok.status_code == 200


@sqlite_only
async def test_only_post(pep: httpx.AsyncClient) -> None:
    for path in (EVALUATION, EVALUATIONS):
        response = await pep.get(path)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


@sqlite_only
async def test_oversized_body_is_413(pep: httpx.AsyncClient, container: Container) -> None:
    padding = "x" * container.settings.max_form_bytes
    body = {**_GOOD, "context": {"padding": padding}}
    assert (await pep.post(EVALUATION, json=body)).status_code == 413


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("Bearer not-a-token", "invalid_token", id="garbage"),
        pytest.param("Basic dXNlcjpwYXNz", "invalid_request", id="basic"),
        pytest.param("Bearer ", "invalid_request", id="empty"),
    ],
)
async def test_missing_or_invalid_token_is_401(
    http: httpx.AsyncClient, authorization: str | None, error: str | None
) -> None:
    """RFC 6750 §3.1: no credentials → a bare challenge; a bad one names the error."""
    headers = {"Authorization": authorization} if authorization else {}
    for path in (EVALUATION, EVALUATIONS):
        response = await http.post(path, json=_GOOD, headers=headers)
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="authgate"')
        if error is None:
            assert "error=" not in challenge
        else:
            assert f'error="{error}"' in challenge
            assert response.json()["error"] == error


async def test_token_for_another_api_is_401(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """A token whose audience is not AuthGate's own API is not a credential here."""
    token = (await client_credentials(http, service, resource=ORDERS))["access_token"]
    response = await http.post(EVALUATION, json=_GOOD, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_token_without_evaluate_is_403(http: httpx.AsyncClient, container: Container) -> None:
    """RFC 6750 §3.1 insufficient_scope, naming the permission needed."""
    token = await _caller(container, http, "authgate:users.read")
    for path in (EVALUATION, EVALUATIONS):
        response = await http.post(path, json=_GOOD, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert f'scope="{EVALUATE}"' in challenge


async def test_authentication_comes_before_validation(http: httpx.AsyncClient) -> None:
    """An unauthenticated caller learns nothing from the server's view of its body."""
    response = await http.post(EVALUATION, content=b"{", headers={"Content-Type": "text/plain"})
    assert response.status_code == 401


@sqlite_only
async def test_request_id_is_echoed(pep: httpx.AsyncClient, world: None) -> None:
    """ "Request Identification in a Response": the PEP's X-Request-ID comes back, on
    decisions and on errors."""
    request_id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    headers = {"X-Request-ID": request_id}
    ok = await pep.post(EVALUATION, json=_GOOD, headers=headers)
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == request_id
    refused = await pep.post(EVALUATIONS, json={"evaluations": 1}, headers=headers)
    assert refused.status_code == 400
    assert refused.headers["x-request-id"] == request_id
    unauthenticated = await pep.post(
        EVALUATION, json=_GOOD, headers={**headers, "Authorization": "Bearer x"}
    )
    assert unauthenticated.headers["x-request-id"] == request_id
    assert (await pep.post(EVALUATION, json=_GOOD)).headers["x-request-id"]  # one is made


async def test_decisions_follow_model_changes(
    pep: httpx.AsyncClient, world: None, container: Container
) -> None:
    """A binding made after a decision is seen by the next one (the caller's cached
    token stays valid)."""
    resource = doc("d5", path="folder:f2/document:d5")
    assert (await decision(pep, ask(CAROL, READ, resource)))["decision"] is False
    await container.access.bind(CLI, "doc-reader", "user:carol", "folder:f2")
    assert (await decision(pep, ask(CAROL, READ, resource)))["decision"] is True


@sqlite_only
async def test_decisions_are_counted_under_their_route(pep: httpx.AsyncClient) -> None:
    """/metrics counts the evaluation endpoints by path, not as unmatched requests."""
    await pep.post(EVALUATION, json=_GOOD)
    await pep.post(EVALUATIONS, json={"evaluations": []})
    metrics = (await pep.get("/metrics")).text
    for path in (EVALUATION, EVALUATIONS):
        assert f'route="{path}",status="200"' in metrics
