"""The shape of an API key: ``agk_<id>_<secret><checksum>``.

- ``agk_`` makes a leaked key recognisable (secret scanners match the prefix and the
  fixed lengths);
- ``<id>``: 12 base62 characters, public, how the key is found and named in the audit log;
- ``<secret>``: 22 base62 characters from ``secrets`` (log2(62^22) ≈ 131 bits, spec §5:
  at least 128);
- ``<checksum>``: the CRC-32 of everything before it in 6 base62 characters, so a
  mistyped or truncated key is refused without touching the database. CRC-32 is an error
  check, not a MAC: the secret is what authenticates, through its keyed digest.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

from authgate.tokens.credentials import API_KEY_PREFIX

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 12
SECRET_LENGTH = 22
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(API_KEY_PREFIX) + ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH
_SHAPE = re.compile(
    rf"{API_KEY_PREFIX}([0-9A-Za-z]{{{ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})"
    rf"([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)
_ID = re.compile(rf"[0-9A-Za-z]{{{ID_LENGTH}}}")


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key_id: str
    key: str


def new_key() -> ParsedKey:
    key_id = _random(ID_LENGTH)
    body = f"{API_KEY_PREFIX}{key_id}_{_random(SECRET_LENGTH)}"
    return ParsedKey(key_id, body + checksum(body))


def parse(key: str) -> ParsedKey | None:
    """The key's id when ``key`` has the shape and a correct checksum; None otherwise."""
    if len(key) != KEY_LENGTH:
        return None
    shape = _SHAPE.fullmatch(key)
    if shape is None:
        return None
    body = key[:-CHECKSUM_LENGTH]
    if not secrets.compare_digest(checksum(body), shape.group(3)):
        return None
    return ParsedKey(shape.group(1), key)


def is_key_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None
