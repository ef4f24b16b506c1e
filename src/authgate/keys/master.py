"""The master key: seals private signing keys and TOTP secrets at rest (spec §3).

Purpose-specific subkeys are derived with HKDF-SHA256 (RFC 5869), so the key that seals
signing keys never doubles as the key that signs audit records or CSRF tokens. Sealing is
AES-256-GCM from ``cryptography``, with the purpose bound in as associated data.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.errors import ConfigurationError

MASTER_KEY_FILE = "master.key"
_VERSION = b"\x01"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ConfigurationError(
                "the master key must hold at least 32 random bytes (base64url-encoded)"
            )
        self._key = key

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        try:
            return cls(_b64d(text.strip()))
        except (ValueError, TypeError):
            raise ConfigurationError(
                "the master key is not valid base64url; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            ) from None

    @classmethod
    def load_or_create(cls, data_dir: Path, configured: str | None, *, create: bool) -> MasterKey:
        """The configured key, else the data directory's key file (made when ``create``)."""
        if configured:
            return cls.from_text(configured)
        path = data_dir / MASTER_KEY_FILE
        if path.exists():
            return cls.from_text(path.read_text())
        if not create:
            raise ConfigurationError(
                f"no master key: {path} is missing and AUTHGATE_MASTER_KEY is unset; "
                "run `authgate init` first"
            )
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        return cls.from_text(path.read_text())

    def derive(self, purpose: str, length: int = 32) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()
        ).derive(self._key)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(12)
        box = AESGCM(self.derive("seal:" + purpose))
        return _VERSION + nonce + box.encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 29:
            raise ConfigurationError(f"sealed {purpose} data is malformed")
        box = AESGCM(self.derive("seal:" + purpose))
        try:
            return box.decrypt(sealed[1:13], sealed[13:], purpose.encode())
        except InvalidTag:
            raise ConfigurationError(
                f"cannot decrypt the stored {purpose}: the master key differs from the one "
                "it was sealed with"
            ) from None
