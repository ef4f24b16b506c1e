"""Neutral request and response shapes between the web adapter and the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OAuthRequest:
    """A request as the engine sees it: form fields (each given at most once), the
    headers it reads, and the caller's address."""

    form: Mapping[str, str]
    authorization: str | None = None
    client_ip: str | None = None
    #: Form fields that appeared more than once (RFC 6749 §3.1: must not be repeated).
    repeated: frozenset[str] = frozenset()


@dataclass
class OAuthResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
