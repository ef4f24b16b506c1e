"""How routes reach the container and the request's audit context."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from authgate.audit.events import AuditContext
from authgate.container import Container


def container_of(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def audit_context(request: Request, actor: str | None = None) -> AuditContext:
    return AuditContext(
        actor=actor,
        source_ip=(client_ip(request) or "")[:64] or None,
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
    )
