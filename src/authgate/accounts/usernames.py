"""Usernames: unique case-insensitively after Unicode NFKC normalisation.

``ＡＬＩＣＥ`` (full-width), ``Alice`` and ``alice`` are one account: the stored key is the
NFKC form, case-folded (Unicode TR #36 §2.11 advises NFKC + case folding for identifiers).
"""

from __future__ import annotations

import re
import unicodedata

from authgate.errors import InvalidInput

MAX_LENGTH = 150
_ALLOWED = re.compile(r"^[\w.@+\-]+\Z")


def normalize(username: str) -> str:
    """The display form: NFKC, surrounding space removed. Raises on anything unusable."""
    try:
        username.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the username is not valid Unicode") from None
    text = unicodedata.normalize("NFKC", username).strip()
    if not text:
        raise InvalidInput("the username is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"the username is longer than {MAX_LENGTH} characters")
    if not _ALLOWED.match(text):
        raise InvalidInput(
            "a username may contain letters, digits and . _ - @ + only (no spaces or symbols)"
        )
    return text


def username_key(username: str) -> str:
    """The uniqueness key: NFKC, case-folded, NFKC again (folding can denormalise)."""
    key = unicodedata.normalize("NFKC", normalize(username).casefold())
    if len(key) > MAX_LENGTH:  # folding can lengthen it: "ß" becomes "ss"
        raise InvalidInput(f"the username is longer than {MAX_LENGTH} characters once case-folded")
    return key
