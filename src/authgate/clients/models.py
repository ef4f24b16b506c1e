"""The client as the client service hands it out: never a secret or a digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authgate.storage.models import ClientRow

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN, DEVICE_CODE, TOKEN_EXCHANGE)

SECRET_BASIC = "client_secret_basic"
SECRET_POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
NONE = "none"
AUTH_METHODS = (SECRET_BASIC, SECRET_POST, PRIVATE_KEY_JWT, NONE)
SECRET_METHODS = (SECRET_BASIC, SECRET_POST)


def _ttl(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    public: bool
    auth_method: str
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    """Scopes it may request; empty means any scope of the APIs it may use, plus the
    OpenID Connect scopes."""
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    audiences: tuple[str, ...]
    """APIs it may ask tokens for; the first is the default."""
    first_party: bool
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    access_token_ttl: timedelta | None
    refresh_token_ttl: timedelta | None
    disabled: bool
    scope: str = "/"
    """The resource path the client lives under (its administrators are bound there); not
    to be confused with ``scopes``, what it may request."""

    @classmethod
    def from_row(cls, row: ClientRow) -> Client:
        return cls(
            client_id=row.client_id,
            name=row.name,
            public=row.public,
            auth_method=row.auth_method,
            grant_types=tuple(row.grant_types),
            scopes=tuple(row.scopes),
            redirect_uris=tuple(row.redirect_uris),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
            audiences=tuple((row.audience or "").split()),
            first_party=row.first_party,
            jwks=dict(row.jwks) if row.jwks is not None else None,
            jwks_uri=row.jwks_uri,
            access_token_ttl=_ttl(row.access_token_ttl),
            refresh_token_ttl=_ttl(row.refresh_token_ttl),
            disabled=row.disabled,
            scope=row.scope,
        )

    def to_json(self) -> dict[str, Any]:
        """Durations in seconds; no secret, no digest."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "public": self.public,
            "auth_method": self.auth_method,
            "grant_types": list(self.grant_types),
            "scopes": list(self.scopes),
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "audiences": list(self.audiences),
            "first_party": self.first_party,
            "jwks": self.jwks,
            "jwks_uri": self.jwks_uri,
            "access_token_ttl": _seconds(self.access_token_ttl),
            "refresh_token_ttl": _seconds(self.refresh_token_ttl),
            "disabled": self.disabled,
            "scope": self.scope,
        }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())
