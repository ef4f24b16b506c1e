"""One error class per OAuth error code, each carrying its RFC status.

``description`` is sent to the client; ``detail`` is for logs only. Codes: RFC 6749 §4.1.2.1
and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8707 §2, OpenID Connect Core §3.1.2.6.
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(
        self,
        description: str,
        *,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        event: str | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail
        self.headers = dict(headers or {})
        #: An audit tag the adapter records (a replayed code, a reused refresh token).
        self.event = event

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": _printable(self.description)}


def _printable(text: str) -> str:
    """RFC 6749 §5.2: error_description holds only %x20-21 / %x23-5B / %x5D-7E."""
    text = text.replace("§", "section ").replace('"', "'").replace("\\", "/")
    return "".join(ch if 0x20 <= ord(ch) <= 0x7E else "?" for ch in text)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401, with ``WWW-Authenticate`` when the client tried HTTP Basic."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is unknown or not allowed for this client."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1."""

    error = "unsupported_token_type"


class LoginRequired(OAuthError):
    """OpenID Connect Core §3.1.2.6."""

    error = "login_required"


class ConsentRequired(OAuthError):
    error = "consent_required"


class InteractionRequired(OAuthError):
    error = "interaction_required"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class SlowDown(OAuthError):
    """Too many requests: 429 with ``Retry-After`` (RFC 6585 §4)."""

    error = "slow_down"
    status = 429
