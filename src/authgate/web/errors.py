"""The one place that turns exceptions into HTTP answers for non-page routes."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authgate.errors import AuthGateError, StorageUnavailable, TooManyAttempts
from authgate.storage.db import UNAVAILABLE_ERRORS
from authgate.web.bearer import BearerError

log = logging.getLogger("authgate.web")
RETRY_AFTER_SECONDS = "5"


def error_json(status: int, code: str, description: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": code, "error_description": description},
        status_code=status,
        headers=headers or None,
    )


def unavailable() -> JSONResponse:
    """Spec §7: 503 with a JSON error and ``Retry-After`` while the database is down."""
    return error_json(
        503,
        "temporarily_unavailable",
        "the database is unreachable; AuthGate recovers by itself when it returns",
        **{"Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": "no-store"},
    )


def install(app: FastAPI) -> None:
    async def on_authgate_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthGateError)
        if isinstance(exc, StorageUnavailable):
            return unavailable()
        if isinstance(exc, BearerError):
            return exc.response()
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        return error_json(exc.status, exc.code, exc.message, **headers)

    async def on_unreachable(_: Request, exc: Exception) -> Response:
        log.warning("database unreachable", extra={"error": type(exc).__name__})
        return unavailable()

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return error_json(400, "invalid_request", problems or "the request is malformed")

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error_json(exc.status_code, code, str(exc.detail), **(exc.headers or {}))

    app.add_exception_handler(AuthGateError, on_authgate_error)
    for error_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, on_unreachable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
