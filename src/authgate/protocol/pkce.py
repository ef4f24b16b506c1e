"""RFC 7636 §4.1–4.6: Proof Key for Code Exchange, ``S256`` only.

``plain`` is refused (RFC 9700 §2.1.1: use S256); a verifier is 43–128 characters of
``[A-Za-z0-9-._~]`` (§4.1), the challenge its base64url SHA-256 (§4.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from authgate.protocol.errors import InvalidGrant, InvalidRequest

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}\Z")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}\Z")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """Validate the authorization request's challenge (§4.3); returns it, or None."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method given without code_challenge")
        if required:
            raise InvalidRequest("PKCE is required: send code_challenge with method S256")
        return None
    if (method or "plain") != "S256":
        raise InvalidRequest("code_challenge_method must be S256 (plain is not accepted)")
    if not _CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge must be the base64url SHA-256 of the verifier")
    return challenge


def verify(challenge: str | None, verifier: str | None) -> None:
    """§4.6: the verifier must hash to the stored challenge; a verifier without a stored
    challenge is refused too (RFC 9700 §4.8.2, PKCE downgrade)."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier sent, but the authorization request had no challenge")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required for this code")
    if not _VERIFIER.match(verifier):
        raise InvalidGrant("code_verifier is malformed (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
