"""AuthGate's non-protocol error tree.

Every error carries a stable machine code and a message that says what was wrong and what
to do. The web layer turns them into ``{"error", "error_description"}`` JSON with
``status``; the CLI prints the message and exits non-zero. OAuth protocol errors (RFC 6749
§5.2 and friends) live in their own tree in ``authgate.protocol``.
"""

from __future__ import annotations


class AuthGateError(Exception):
    """Base of every expected failure."""

    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AuthGateError):
    code = "invalid_request"
    status = 400


class NotFound(AuthGateError):
    code = "not_found"
    status = 404


class Conflict(AuthGateError):
    code = "conflict"
    status = 409


class AuthenticationFailed(AuthGateError):
    """Generic on purpose: never says whether the user exists."""

    code = "authentication_failed"
    status = 401


class TooManyAttempts(AuthGateError):
    code = "too_many_attempts"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(AuthGateError):
    code = "configuration_error"
    status = 500


class StorageUnavailable(AuthGateError):
    code = "temporarily_unavailable"
    status = 503


class SchemaOutOfDate(AuthGateError):
    code = "schema_out_of_date"
    status = 503
