"""Property-based fuzzing of the admin API from its own ``/openapi.json``: schemathesis
generates requests for every admin operation, valid and invalid, sends them as an
``authgate-admin`` caller (a ``client_credentials`` token) to the in-process app, and
checks each answer: never a 5xx (spec §4: a 5xx is always a bug), a documented status,
a documented content type, a body matching the documented schema, and (for invalid
requests) a 4xx."""

# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authgate.container import Container
from tests.conformance.conftest import sqlite_only
from tests.web.test_admin_api import (
    _model_changes_seen_at_once,
    _no_groups_left,
    _one_rsa_key_per_run,
    admins,
    http,
    root,
)

ERRORS = ("400", "401", "403", "404", "409", "412", "415", "422")
IDEMPOTENT = ("/roles", "/groups", "/members", "/bindings", "/api-keys", "/apis", "/rotate")
#: Per operation and mode: about 25 s a database. Set AUTHGATE_FUZZ_EXAMPLES=200 to dig.
EXAMPLES = int(os.environ.get("AUTHGATE_FUZZ_EXAMPLES", "5"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _send(
    loop: asyncio.AbstractEventLoop, http: httpx.AsyncClient, request: dict[str, Any]
) -> httpx.Response:
    """Send on the test's event loop, where the app and its database live."""
    body: dict[str, Any] = {}
    if "json" in request:
        body["content"] = json.dumps(request["json"]).encode()
    elif request.get("data") is not None:
        data = request["data"]
        body["content"] = data if isinstance(data, bytes) else str(data).encode()
    call = http.request(
        request["method"],
        request["url"],
        params=request.get("params"),
        headers=request.get("headers"),
        **body,
    )
    return asyncio.run_coroutine_threadsafe(call, loop).result(timeout=30)


def _fuzz(
    schema: Any, loop: asyncio.AbstractEventLoop, http: httpx.AsyncClient, auth: dict[str, str]
) -> list[str]:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                request = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
                response = _send(loop, http, request)
                # The size limit answers before the body is read: a rejection too.
                chosen = CHECKS if response.status_code == 413 else checks
                try:
                    case.validate_response(response, checks=chosen, headers=auth)
                except (AssertionError, BaseExceptionGroup) as exc:  # one run shows them all
                    failures.append(
                        f"{request['method']} {request['url']} ({mode.value}) -> "
                        f"{response.status_code} {response.text[:200]}: {str(exc)[:600]}"
                    )

            try:
                check()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (no parameters, no body).
                assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


@pytest.mark.slow
async def test_the_admin_api_survives_fuzzing_and_matches_its_schema(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    document = (await http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document).include(path_regex="^/admin/v1/")
    assert len(list(schema.get_all_operations())) >= 20
    loop = asyncio.get_running_loop()
    failures = await asyncio.to_thread(_fuzz, schema, loop, http, root)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])


@sqlite_only
async def test_openapi_documents_every_error_of_every_admin_operation(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"error", "error_description"}
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/admin/v1/")
        for method, operation in item.items()
    ]
    assert len(operations) >= 20
    for method, path, operation in operations:
        for status in ERRORS:
            answer = operation["responses"].get(status)
            assert answer is not None, f"{method.upper()} {path} does not document {status}"
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
    idempotent = {p: op for m, p, op in operations if m == "post" and p.endswith(IDEMPOTENT)}
    assert len(idempotent) == len(IDEMPOTENT)
    for path, operation in idempotent.items():
        header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header and header[0]["in"] == "header", path


@sqlite_only
async def test_docs_render_the_reference_without_third_party_assets(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for path in document["paths"]:
        assert f"{path}</code>" in page.replace("&#39;", "'"), path
    assert "<script" not in page and "cdn" not in page.lower()
    assert "default-src 'self'" in response.headers["content-security-policy"]
