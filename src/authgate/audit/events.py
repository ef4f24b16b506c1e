"""Audit tags: a namespaced enum (``docs/events.md`` lists each; a test keeps them in step)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AuditTag(StrEnum):
    LOGIN_SUCCESS = "account:login:success"
    LOGIN_FAILURE = "account:login:failure"
    LOGIN_LOCKOUT = "account:login:lockout"
    LOGOUT = "account:logout"
    PASSWORD_REHASHED = "account:password:rehashed"
    MFA_ENROLLED = "account:mfa:enrolled"
    MFA_SUCCESS = "account:mfa:success"
    MFA_FAILURE = "account:mfa:failure"
    MFA_RECOVERY_CODE_USED = "account:mfa:recovery-code-used"
    MFA_RESET = "account:mfa:reset"
    USER_CREATED = "user:created"
    USER_UPDATED = "user:updated"
    USER_DISABLED = "user:disabled"
    USER_ENABLED = "user:enabled"
    USER_DELETED = "user:deleted"
    USER_SESSIONS_ENDED = "user:sessions-ended"
    KEY_CREATED = "key:created"
    KEY_ROTATED = "key:rotated"
    CLIENT_CREATED = "client:created"
    CLIENT_UPDATED = "client:updated"
    CLIENT_DISABLED = "client:disabled"
    CLIENT_ENABLED = "client:enabled"
    CLIENT_DELETED = "client:deleted"
    CLIENT_SECRET_ROTATED = "client:secret-rotated"
    API_CREATED = "api:created"
    API_UPDATED = "api:updated"
    APIKEY_CREATED = "apikey:created"
    APIKEY_REVOKED = "apikey:revoked"
    ROUTE_CREATED = "route:created"
    ROUTE_UPDATED = "route:updated"
    ROUTE_DELETED = "route:deleted"
    ROLE_CREATED = "role:created"
    ROLE_UPDATED = "role:updated"
    ROLE_DELETED = "role:deleted"
    GROUP_CREATED = "group:created"
    GROUP_UPDATED = "group:updated"
    GROUP_DELETED = "group:deleted"
    GROUP_MEMBER_ADDED = "group:member-added"
    GROUP_MEMBER_REMOVED = "group:member-removed"
    BINDING_CREATED = "binding:created"
    BINDING_DELETED = "binding:deleted"
    OAUTH_CODE_REPLAYED = "oauth:code:replayed"
    OAUTH_REFRESH_REUSED = "oauth:refresh:reused"
    OAUTH_TOKEN_REVOKED = "oauth:token:revoked"
    OAUTH_CONSENT_GRANTED = "oauth:consent:granted"
    OAUTH_CONSENT_REVOKED = "oauth:consent:revoked"


#: What an operator looks at first: failed or blocked sign-ins, stolen-credential alarms,
#: and changes that cut someone off or replace a credential.
SECURITY_TAGS = (
    AuditTag.LOGIN_FAILURE,
    AuditTag.LOGIN_LOCKOUT,
    AuditTag.MFA_FAILURE,
    AuditTag.MFA_RECOVERY_CODE_USED,
    AuditTag.MFA_RESET,
    AuditTag.OAUTH_CODE_REPLAYED,
    AuditTag.OAUTH_REFRESH_REUSED,
    AuditTag.USER_DISABLED,
    AuditTag.USER_SESSIONS_ENDED,
    AuditTag.CLIENT_DISABLED,
    AuditTag.CLIENT_SECRET_ROTATED,
    AuditTag.APIKEY_REVOKED,
    AuditTag.KEY_ROTATED,
)


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who did it and from where: attached to every event a request or command causes."""

    actor: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


CLI_CONTEXT = AuditContext(actor="cli")

GLOBAL_SCOPE = "/"
"""The scope of events about global objects (roles, groups, APIs, signing keys, forward-auth
routes) and of events whose object is unknown: the root, where only holders of
``authgate:audit.read`` at ``/`` see them."""
