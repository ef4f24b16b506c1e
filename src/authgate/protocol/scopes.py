"""Scopes (RFC 6749 §3.3) and the effective scope rule of the product contract (§1).

A requested scope that does not exist or that the client may not request is refused
(``invalid_scope``); of the rest the token gets what the subject holds, and the response
says what was granted (RFC 6749 §3.3, §5.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from authgate.protocol.errors import InvalidScope

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+\Z")


def parse(scope: str | None) -> list[str]:
    """Space-separated scope tokens, deduplicated, order kept."""
    if scope is None:
        return []
    if len(scope) > 4000:
        raise InvalidScope("the scope parameter is too long")
    result: list[str] = []
    for token in scope.split(" "):
        if not token:
            continue
        if not _TOKEN.match(token):
            raise InvalidScope(f"{token!r} is not a valid scope token (RFC 6749 §3.3)")
        if token not in result:
            result.append(token)
    return result


def join(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def holds(held: Iterable[str], wanted: str) -> bool:
    """``resource:*`` covers every action on that resource (spec §1); ``*`` covers all."""
    resource = wanted.split(":", 1)[0]
    covering = {wanted, f"{resource}:*", "*"}
    return any(h in covering for h in held)


def effective(
    requested: Sequence[str],
    *,
    api_permissions: Sequence[str],
    client_scopes: Sequence[str],
    held: frozenset[str],
    allow_oidc: bool,
) -> list[str]:
    """Validate ``requested`` and keep what the subject holds."""
    granted: list[str] = []
    for scope in requested:
        if scope in OIDC_SCOPES:
            if not allow_oidc:
                raise InvalidScope(f"scope {scope!r} needs a user (authorization_code)")
            if client_scopes and scope not in client_scopes and scope != "openid":
                raise InvalidScope(f"this client may not request scope {scope!r}")
            granted.append(scope)
            continue
        if scope not in api_permissions:
            raise InvalidScope(f"scope {scope!r} is not a permission of the requested API")
        if client_scopes and scope not in client_scopes:
            raise InvalidScope(f"this client may not request scope {scope!r}")
        if holds(held, scope):
            granted.append(scope)
    return granted
