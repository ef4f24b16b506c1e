"""One typed, frozen settings object (spec §3).

Values come from ``authgate.toml`` in the data directory, overridden by ``AUTHGATE_*``
environment variables, overridden by explicit arguments (the CLI's flags). The object is
built once at start-up, validated by the named checks below, and handed to the components
that need it; nothing reads the environment anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic import field_validator as _field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from authgate.durations import parse_duration
from authgate.errors import ConfigurationError, InvalidInput

CONFIG_FILE_NAME = "authgate.toml"
KEY_REFRESH_SECONDS = 5
"""How often each server re-reads the signing keys (so CLI rotations reach it)."""
ACCESS_POLL_SECONDS = 1.0
"""How often each server checks whether clients, APIs, roles or bindings changed."""
"""How often each server re-reads the signing keys (so CLI rotations reach it)."""

REVOCATION_RETENTION = timedelta(days=1)
"""How long the revocation feed remembers an event with no natural end (a grant, a user, a
client, an API key): at least as long as any access token may live, which the settings
check, so a token an event refuses has expired by the time the event is forgotten."""

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _on_off(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"on", "true", "1", "yes"}:
            return True
        if lowered in {"off", "false", "0", "no"}:
            return False
        raise ValueError(f"{value!r} is neither 'on' nor 'off'")
    return value


OnOff = Annotated[bool, BeforeValidator(_on_off)]


class RateLimitSettings(BaseModel):
    """The ``[rate_limits]`` table: login throttling per account and per client address,
    token requests per client, failed client authentications per address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: OnOff = True
    """``AUTHGATE_RATE_LIMITS=off`` turns every limit off (development and tests only)."""
    login_failures_per_account: int = Field(5, ge=1)
    """Failed logins allowed for one username before each further one is delayed."""
    login_failures_per_ip: int = Field(20, ge=1)
    """Failed logins allowed from one client address before each further one is delayed."""
    lockout_base: Duration = timedelta(seconds=2)
    """The first lockout; every further failure doubles it."""
    lockout_max: Duration = timedelta(minutes=15)
    """The longest lockout, however many failures follow."""
    failure_window: Duration = timedelta(minutes=15)
    """Failures older than this are forgotten."""
    token_requests_per_client: int = Field(3000, ge=1)
    """Token requests one client may make per ``token_window`` (all grants together)."""
    token_window: Duration = timedelta(minutes=1)
    client_auth_failures_per_ip: int = Field(20, ge=1)
    """Failed client authentications (token, introspection, revocation) allowed from one
    address per ``client_auth_failure_window``; after that, 429 until the window ends."""
    client_auth_failure_window: Duration = timedelta(minutes=5)


class PasswordSettings(BaseModel):
    """The ``[passwords]`` table. The argon2id defaults are OWASP's second listed profile
    (m=19 MiB, t=2, p=1; OWASP Password Storage Cheat Sheet); a change takes effect for
    each user at their next login (rehash on login)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_length: int = Field(10, ge=8, le=128)
    max_length: int = Field(1024, ge=64, le=4096)
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)


class ForwardAuthRoute(BaseModel):
    """One ``[[forward_auth.routes]]`` rule (spec §6): which permission a proxied request
    needs, or ``public = true``. Checked at start-up by the same rules the admin API uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    """``/orders/{order_id}``: each ``{param}`` matches one non-empty path segment."""
    permission: str | None = None
    public: bool = False
    host: str | None = None
    """Compared case-insensitively, without the port; any host when absent."""
    methods: tuple[str, ...] | None = None
    """Any method when absent."""
    audience: str | None = None
    """An access token's ``aud`` must contain it (else 401 ``invalid_token``)."""
    resource: str | None = None
    """``order:{order_id}``: a scoped decision on this resource path (path parameters only)."""

    @model_validator(mode="after")
    def _check_rule(self) -> ForwardAuthRoute:
        from authgate.forwardauth.routes import rule  # here: it imports the access model

        try:
            rule(
                self.path,
                permission=self.permission,
                public=self.public,
                host=self.host,
                methods=self.methods,
                audience=self.audience,
                resource=self.resource,
            )
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return self


class ForwardAuthSettings(BaseModel):
    """The ``[forward_auth]`` table: route rules (before those managed through the admin
    API) and the decision cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: tuple[ForwardAuthRoute, ...] = ()
    cache_ttl: Duration = timedelta(seconds=5)
    """How long a decision for one credential and route is reused (never past the
    credential's expiry; dropped at once on any revocation or access change)."""
    cache_max_entries: int = Field(10_000, ge=0, le=1_000_000)
    """Decisions remembered at most (0 turns the cache off)."""

    @_field_validator("cache_ttl")
    @classmethod
    def _check_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(minutes=5):
            raise ValueError("forward_auth.cache_ttl must be between 0s and 5m")
        return value


class Settings(BaseSettings):
    """Everything AuthGate can be told. Frozen: build a new one to change anything."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHGATE_", frozen=True, extra="forbid", case_sensitive=False
    )

    data_dir: Path = Path("./.authgate")
    """Config file, SQLite database and generated master key live here."""
    database_url: str | None = None
    """``postgresql://…`` for PostgreSQL; unset means ``sqlite:///<data_dir>/authgate.db``."""
    redis_url: str | None = None
    """Redis for rate limits and cache fan-out across replicas; unset means in-process."""
    issuer: str = "http://127.0.0.1:8080"
    """The issuer identifier (OpenID Connect Discovery §3); must equal the public base URL."""
    master_key: SecretStr | None = None
    """Encrypts private signing keys and TOTP secrets at rest; unset means the generated
    ``master.key`` file in the data directory."""
    access_token_ttl: Duration = timedelta(minutes=15)
    refresh_token_ttl: Duration = timedelta(days=30)
    id_token_ttl: Duration = timedelta(hours=1)
    session_ttl: Duration = timedelta(hours=12)
    """How long a browser login lasts."""
    key_propagation: Duration = timedelta(minutes=10)
    """How long a new signing key is published before it signs: at least ``jwks_max_age``
    plus the servers' 5-second key refresh, so every verifier has it before the first
    token it signs arrives."""
    jwks_max_age: Duration = timedelta(minutes=5)
    """``Cache-Control: max-age`` of the JWKS document."""
    max_form_bytes: int = Field(64 * 1024, ge=1024)
    """Largest request body accepted by forms and APIs; larger ones get 413."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    trusted_proxies: str = "127.0.0.1"
    """Comma-separated addresses whose ``X-Forwarded-For``/``-Proto`` headers are believed
    (the client address drives per-IP throttling and the audit log); ``*`` trusts all."""
    jwks_uri_allow_private_addresses: OnOff = False
    """Let AuthGate fetch a client's ``jwks_uri`` from loopback, private, link-local and
    other non-public addresses, and over plain http (development and tests only; PRODUCT
    §7). Off, such a client cannot authenticate and nothing is requested."""
    rate_limits: RateLimitSettings = RateLimitSettings()
    passwords: PasswordSettings = PasswordSettings()
    forward_auth: ForwardAuthSettings = ForwardAuthSettings()

    @_field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        return check_issuer(value)

    @_field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0].lower()
        if scheme.split("+")[0] not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(
                f"unsupported database {scheme!r}: use sqlite:///PATH or postgresql://HOST/DB"
            )
        return value

    @_field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check_together(self) -> Settings:
        if self.key_propagation < self.jwks_max_age + timedelta(seconds=KEY_REFRESH_SECONDS):
            raise ValueError(
                "key_propagation must exceed jwks_max_age by at least "
                f"{KEY_REFRESH_SECONDS}s, or verifiers may meet a key before they could fetch it"
            )
        if self.max_token_ttl > REVOCATION_RETENTION:
            raise ValueError(
                "access and ID tokens may live at most 1d: the revocation feed remembers an "
                "ended grant, user or client for that long"
            )
        if self.passwords.min_length > self.passwords.max_length:
            raise ValueError("passwords.min_length is larger than passwords.max_length")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = Path(os.environ.get("AUTHGATE_DATA_DIR", "./.authgate"))
        init_dir = init_settings().get("data_dir")
        if init_dir is not None:
            data_dir = Path(init_dir)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=data_dir / CONFIG_FILE_NAME)
        env = _EnvWithoutSwitch(settings_cls, env_prefix="AUTHGATE_", case_sensitive=False)
        return (init_settings, _RateLimitSwitch(settings_cls), env, toml)

    # -- derived values -------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'authgate.db').resolve()}"

    @property
    def issuer_is_https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def max_token_ttl(self) -> timedelta:
        """How long a retired signing key must stay published."""
        return max(self.access_token_ttl, self.id_token_ttl)


class _RateLimitSwitch(PydanticBaseSettingsSource):
    """Maps ``AUTHGATE_RATE_LIMITS=on|off`` onto ``rate_limits.enabled`` so the switch
    merges with, instead of replacing, the ``[rate_limits]`` table of the config file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        value = os.environ.get("AUTHGATE_RATE_LIMITS")
        if value is None:
            return {}
        return {"rate_limits": {"enabled": value}}


class _EnvWithoutSwitch(EnvSettingsSource):
    """The environment, minus ``AUTHGATE_RATE_LIMITS`` (handled by :class:`_RateLimitSwitch`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name == "rate_limits":
            return None, field_name, False
        return super().get_field_value(field, field_name)


def check_issuer(value: str) -> str:
    """OpenID Connect Discovery §3 / RFC 8414 §2: an https URL with no query or fragment.
    Plain http is allowed only on a loopback host, for development."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"issuer {value!r} is not an http(s) URL such as https://auth.example.com")
    if parts.query or parts.fragment:
        raise ValueError("the issuer must not have a query or fragment (RFC 8414 §2)")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"issuer {value!r} uses http on a non-loopback host: use https (RFC 8414 §2)"
        )
    return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation failures into one readable message."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except ValueError as exc:  # e.g. a malformed authgate.toml
        raise ConfigurationError(f"invalid configuration: {exc}") from None
