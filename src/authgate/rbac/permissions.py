"""Permissions are ``resource:action`` strings (spec §1); the action ``*`` means every action
on that resource. They are compared case-sensitively. The lone ``*`` is every permission:
the built-in ``authgate-admin`` role holds it, so its holders may grant anything."""

from __future__ import annotations

import re
from collections.abc import Iterable

from authgate.errors import InvalidInput

_PERMISSION = re.compile(r"^[A-Za-z0-9_.-]+:(?:[A-Za-z0-9_.-]+|\*)\Z")
MAX_LENGTH = 200


EVERYTHING = "*"


def check_permission(text: str) -> str:
    if text == EVERYTHING:
        return text
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
    covering = {wanted, EVERYTHING} if wildcard is None else {wanted, EVERYTHING, wildcard}
    return any(p in covering for p in held)
