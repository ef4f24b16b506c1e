"""Redirect URI matching: exact string comparison (RFC 9700 §4.1.3), except that a
loopback redirect URI of a native client may use any port (RFC 8252 §7.3)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_HOSTS = {"127.0.0.1", "[::1]", "::1"}


def _without_port(uri: str) -> tuple[str, str, str, str] | None:
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "::1"}:
        return None
    return parts.scheme, parts.hostname, parts.path, parts.query


def matches(registered: Iterable[str], given: str) -> bool:
    for uri in registered:
        if uri == given:
            return True
        a, b = _without_port(uri), _without_port(given)
        if a is not None and a == b:
            try:
                urlsplit(given).port  # noqa: B018 - raises on a malformed port
            except ValueError:
                return False
            return True
    return False
