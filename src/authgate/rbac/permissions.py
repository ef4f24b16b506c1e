"""Permissions are ``resource:action`` strings (spec §1); the action ``*`` means every action
on that resource. They are compared case-sensitively."""

from __future__ import annotations

import re
from collections.abc import Iterable

from authgate.errors import InvalidInput

_PERMISSION = re.compile(r"^[A-Za-z0-9_.-]+:(?:[A-Za-z0-9_.-]+|\*)$")
MAX_LENGTH = 200


def check_permission(text: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_LENGTH or not _PERMISSION.match(text):
        raise InvalidInput(
            f"permission {text!r} must look like resource:action (e.g. orders:read): each side "
            "letters, digits and _ . - (the action may be *), at most 200 characters"
        )
    return text


def grants(held: Iterable[str], wanted: str) -> bool:
    """Whether any held permission covers ``wanted``: the same string, or ``res:*`` for any
    ``res:<action>``."""
    resource, sep, _ = wanted.partition(":")
    wildcard = f"{resource}:*" if sep else None
    return any(p == wanted or (wildcard is not None and p == wildcard) for p in held)
