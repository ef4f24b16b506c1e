"""``/docs``: the API reference, rendered on the server from ``/openapi.json`` (no script,
no third-party assets, so it works offline and under the pages' strict CSP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from authgate.web.render import SECURITY_HEADERS

router = APIRouter()
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_METHODS = ("get", "post", "put", "patch", "delete")


def _schema_text(schema: dict[str, Any] | None) -> str:
    return "" if not schema else json.dumps(schema, indent=2, sort_keys=True)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _first_schema(part: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a request body's or answer's first media type."""
    for media in part.get("content", {}).values():
        schema = media.get("schema")
        return schema if isinstance(schema, dict) else None
    return None


def _operations(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Operations grouped by their first tag, in path order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body_schema = _first_schema(operation.get("requestBody", {}))
            responses = []
            for status, answer in sorted(operation.get("responses", {}).items()):
                schema = _first_schema(answer)
                responses.append(
                    {
                        "status": status,
                        "description": answer.get("description", ""),
                        "schema": _ref_name(schema) if schema else None,
                    }
                )
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(
                {
                    "id": operation.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": operation.get("parameters", []),
                    "body": _schema_text(body_schema),
                    "responses": responses,
                }
            )
    return groups


@router.get("/docs", include_in_schema=False)
async def reference(request: Request) -> HTMLResponse:
    document = request.app.openapi()
    schemas = document.get("components", {}).get("schemas", {})
    html = _env.get_template("api_reference.html").render(
        info=document.get("info", {}),
        groups=_operations(document),
        schemas={name: _schema_text(s) for name, s in sorted(schemas.items())},
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)
