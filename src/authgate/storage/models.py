"""Tables. The schema is owned by the Alembic migrations; a drift test keeps these in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        dict[str, Any] | None: JSON(),
        list[str]: JSON(),
    }


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    username_key: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    attributes: Mapped[dict[str, Any]]
    #: The resource path the account lives under; its administrators are bound there.
    scope: Mapped[str] = mapped_column(String(1000), default="/", server_default="/", index=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RecoveryCodeRow(Base):
    __tablename__ = "recovery_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    used_at: Mapped[datetime | None]


class SessionRow(Base):
    __tablename__ = "sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    amr: Mapped[list[str]]
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict[str, Any]]
    private_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    activates_at: Mapped[datetime]
    retires_at: Mapped[datetime | None]
    publish_until: Mapped[datetime | None]


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    tag: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(String(300), index=True)
    #: Where the event's object is administered; NULL for events written before 0009.
    scope: Mapped[str | None] = mapped_column(String(1000), index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """One row: the newest event's id and hash, so deleting the tail is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))


Index("ix_sessions_expires_at", SessionRow.expires_at)


class ClientRow(Base):
    """An OAuth 2.0 client (RFC 6749 §2). Secrets are stored only as keyed digests."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None]
    grant_types: Mapped[list[str]]
    scopes: Mapped[list[str]]
    redirect_uris: Mapped[list[str]]
    post_logout_redirect_uris: Mapped[list[str]]
    audience: Mapped[str | None] = mapped_column(String(500))
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    jwks: Mapped[dict[str, Any] | None]
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    access_token_ttl: Mapped[int | None] = mapped_column(Integer)
    refresh_token_ttl: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The resource path the client lives under; its administrators are bound there.
    scope: Mapped[str] = mapped_column(String(1000), default="/", server_default="/", index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiRow(Base):
    """A resource server (RFC 8707 §2): its audience and the permissions it understands."""

    __tablename__ = "apis"

    audience: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    permissions: Mapped[list[str]]
    token_format: Mapped[str] = mapped_column(String(16), default="jwt")
    created_at: Mapped[datetime]


class RoleRow(Base):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(150), primary_key=True)
    permissions: Mapped[list[str]]
    created_at: Mapped[datetime]


class BindingRow(Base):
    """*member* gets *role* on *scope* (spec §1)."""

    __tablename__ = "bindings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(
        String(150), ForeignKey("roles.name", ondelete="CASCADE"), index=True
    )
    member: Mapped[str] = mapped_column(String(300), index=True)
    scope: Mapped[str] = mapped_column(String(1000), default="/")
    condition: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class RoleParentRow(Base):
    """``role`` inherits every permission of ``parent`` (a DAG: the service refuses cycles)."""

    __tablename__ = "role_parents"

    role: Mapped[str] = mapped_column(
        String(150), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True
    )
    parent: Mapped[str] = mapped_column(
        String(150), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True, index=True
    )


class GroupRow(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(150), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    group: Mapped[str] = mapped_column(
        String(150), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ChangeCounterRow(Base):
    """Bumped by every write to the access model, so other processes see a change."""

    __tablename__ = "change_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class AuthorizationCodeRow(Base):
    """RFC 6749 §4.1.2: single use, short lived, bound to client, redirect URI and PKCE."""

    __tablename__ = "authorization_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(Text)
    audience: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(500))
    auth_time: Mapped[datetime]
    amr: Mapped[list[str]]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    grant_id: Mapped[str | None] = mapped_column(String(64))


class GrantRow(Base):
    """One authorization: the family of refresh tokens (and access tokens) that descend
    from one code or one login. Revoking it ends them all (RFC 9700 §4.14.2)."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    audience: Mapped[str | None] = mapped_column(String(500))
    auth_time: Mapped[datetime | None]
    amr: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("grants.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RevokedTokenRow(Base):
    """Deny list of JWT access tokens (RFC 7009 §2) until they would expire anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ConsentRow(Base):
    __tablename__ = "consents"

    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scopes: Mapped[list[str]]
    granted_at: Mapped[datetime]


class UsedAssertionRow(Base):
    """``jti`` of ``private_key_jwt`` assertions already seen (RFC 7523 §3 item 7)."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RevocationEventRow(Base):
    """One revocation, in order, for enforcement points that verify tokens locally (the
    revocation feed). ``kind`` is ``jti``, ``grant``, ``user``, ``client`` or ``apikey``;
    a row may be forgotten after ``expires_at``, when nothing it refuses can still be valid."""

    __tablename__ = "revocation_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiKeyRow(Base):
    """An API key (spec §5): stored only as a keyed digest of the whole key. ``owner`` is
    ``user:<id>`` or ``client:<id>``; ``permissions`` empty means "whatever the owner holds"."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(300), index=True)
    name: Mapped[str] = mapped_column(String(200))
    permissions: Mapped[list[str]]
    allowed_networks: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ForwardAuthRouteRow(Base):
    """A forward-auth route rule managed through the admin API (spec §6); rules from the
    config file come first, then these in ``position`` order."""

    __tablename__ = "forward_auth_routes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    host: Mapped[str | None] = mapped_column(String(255))
    methods: Mapped[list[str]]
    path: Mapped[str] = mapped_column(String(1000))
    permission: Mapped[str | None] = mapped_column(String(300))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[str | None] = mapped_column(String(500))
    resource: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]


class AccessTokenRow(Base):
    """An opaque (reference) access token, for APIs that chose them over JWTs (spec §5):
    stored only as a digest, with the claims a JWT would have carried."""

    __tablename__ = "access_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    claims: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class IdempotencyKeyRow(Base):
    """An admin create answered once per caller and ``Idempotency-Key``; the answer is
    sealed, since it may hold a secret shown once."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(400), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)  # None while the request runs
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(index=True)
