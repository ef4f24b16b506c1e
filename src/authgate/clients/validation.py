"""What a client registration may hold, checked before anything is stored.

Each ``check_*`` function takes one field and returns it normalised or raises
:class:`InvalidInput` with a message for the person who typed it; :func:`check_spec` checks
the fields against each other and fills in the defaults.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

from joserfc.jwk import KeySet

from authgate.apis.service import MAX_AUDIENCE, check_audience, check_name
from authgate.clients.models import (
    AUTH_METHODS,
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    GRANT_TYPES,
    NONE,
    PRIVATE_KEY_JWT,
    REFRESH_TOKEN,
    SECRET_BASIC,
)
from authgate.durations import format_duration, parse_duration
from authgate.errors import InvalidInput
from authgate.rbac.service import ROOT, check_scope

MAX_URI = 2000
MAX_URIS = 100
MAX_SCOPES = 1000
MAX_SCOPE_TOKEN = 200
MAX_KEYS = 20
MAX_JWKS_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
MAX_TTL = timedelta(days=3650)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
PUBLIC_KEY_TYPES = ("RSA", "EC", "OKP")

_ASCII_URI = re.compile(r"^[\x21-\x7e]+\Z")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\Z")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+\Z")


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A registration as given; :func:`check_spec` returns it checked and completed."""

    name: str
    public: bool = False
    auth_method: str | None = None
    grant_types: tuple[str, ...] | None = None
    scopes: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    first_party: bool = False
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    access_token_ttl: timedelta | str | None = None
    refresh_token_ttl: timedelta | str | None = None
    scope: str = ROOT
    """The resource path the client lives under (where its administrators are bound)."""


def _split(uri: str, what: str) -> SplitResult:
    if len(uri) > MAX_URI or not _ASCII_URI.match(uri):
        raise InvalidInput(
            f"{what} {uri!r} must be at most {MAX_URI} printable ASCII characters without "
            "spaces (percent-encode anything else)"
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput(f"{what} {uri!r} is not a valid URI") from None
    if not parts.scheme or not _SCHEME.match(parts.scheme):
        raise InvalidInput(f"{what} {uri!r} is not an absolute URI (RFC 6749 §3.1.2)")
    if "#" in uri:
        raise InvalidInput(f"{what} {uri!r} must not have a fragment (RFC 6749 §3.1.2)")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"{what} {uri!r} must not carry a user name or password")
    return parts


def check_redirect_uri(uri: str, what: str = "redirect URI") -> str:
    """Absolute, no fragment (RFC 6749 §3.1.2); https, or http on a loopback host, or a
    private-use scheme with a dot such as ``com.example.app:/callback`` (RFC 8252 §7.1)."""
    parts = _split(uri, what)
    if parts.scheme in {"https", "http"}:
        if not parts.hostname:
            raise InvalidInput(f"{what} {uri!r} has no host")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise InvalidInput(
                f"{what} {uri!r} uses http on a host that is not loopback: use https "
                "(http is allowed only on 127.0.0.1, [::1] and localhost, RFC 8252 §7.3)"
            )
        return uri
    if "." not in parts.scheme:
        raise InvalidInput(
            f"{what} {uri!r} must use https, http on a loopback host, or a private-use scheme "
            "with a dot such as com.example.app:/callback (RFC 8252 §7.1)"
        )
    return uri


def check_uris(uris: Sequence[str], what: str = "redirect URI") -> tuple[str, ...]:
    if isinstance(uris, str):
        uris = [uris]
    if len(uris) > MAX_URIS:
        raise InvalidInput(f"a client may register at most {MAX_URIS} of each kind of URI")
    return tuple(dict.fromkeys(check_redirect_uri(u, what) for u in uris))


def check_scopes(scopes: str | Sequence[str]) -> tuple[str, ...]:
    """Scope tokens (RFC 6749 §3.3); a string is a space-separated list."""
    tokens = [t for t in scopes.split(" ") if t] if isinstance(scopes, str) else list(scopes)
    if len(tokens) > MAX_SCOPES:
        raise InvalidInput(f"a client may list at most {MAX_SCOPES} scopes")
    for token in tokens:
        if len(token) > MAX_SCOPE_TOKEN or not _SCOPE_TOKEN.match(token):
            raise InvalidInput(
                f"scope {token!r} is not a scope token: printable ASCII without spaces, "
                f'" or \\, at most {MAX_SCOPE_TOKEN} characters (RFC 6749 §3.3)'
            )
    return tuple(dict.fromkeys(tokens))


def check_grant_types(grant_types: Sequence[str]) -> tuple[str, ...]:
    if isinstance(grant_types, str):
        grant_types = [grant_types]
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidInput(f"unknown grant type {grant!r}: use one of {', '.join(GRANT_TYPES)}")
    if not grant_types:
        raise InvalidInput("a client needs at least one grant type")
    return tuple(dict.fromkeys(grant_types))


def check_audiences(audiences: Sequence[str]) -> tuple[str, ...]:
    if isinstance(audiences, str):
        audiences = [audiences]
    checked = tuple(dict.fromkeys(check_audience(a) for a in audiences))
    if len(" ".join(checked)) > MAX_AUDIENCE:
        raise InvalidInput(
            f"the audiences of a client take at most {MAX_AUDIENCE} characters together"
        )
    return checked


def check_jwks_uri(uri: str) -> str:
    parts = _split(uri, "jwks_uri")
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(f"jwks_uri {uri!r} must be an https URL")
    return uri


def check_jwks(jwks: Any) -> dict[str, Any]:
    """A JWK Set (RFC 7517 §5) of public signature keys: no private or symmetric keys."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidInput('jwks must be a JWK Set: an object with a non-empty "keys" array')
    if len(keys) > MAX_KEYS:
        raise InvalidInput(f"jwks may hold at most {MAX_KEYS} keys")
    try:
        text = json.dumps(jwks, sort_keys=True)
    except (TypeError, ValueError):
        raise InvalidInput("jwks must be plain JSON") from None
    if len(text) > MAX_JWKS_BYTES:
        raise InvalidInput(f"jwks is larger than {MAX_JWKS_BYTES // 1024} KiB")
    for number, key in enumerate(keys, 1):
        _check_public_jwk(number, key)
    clean: dict[str, Any] = json.loads(text)
    return clean


def _check_public_jwk(number: int, key: Any) -> None:
    where = f"jwks key {number}"
    if not isinstance(key, dict):
        raise InvalidInput(f"{where} is not a JSON object")
    private = [m for m in PRIVATE_MEMBERS if m in key]
    if private or key.get("kty") == "oct":
        members = ", ".join(f'"{m}"' for m in private) or '"kty": "oct"'
        raise InvalidInput(
            f"{where} holds private or symmetric key material ({members}): register the "
            "PUBLIC keys only"
        )
    if key.get("kty") not in PUBLIC_KEY_TYPES:
        raise InvalidInput(f'{where} must have "kty" RSA, EC or OKP')
    if key.get("use", "sig") != "sig":
        raise InvalidInput(f'{where} has "use" {key.get("use")!r}; client keys sign ("sig")')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imported = KeySet.import_key_set({"keys": [key]}).keys[0]
    except Exception as exc:  # the library raises many kinds on malformed keys
        raise InvalidInput(f"{where} is not a valid public key ({exc})") from None
    bits = getattr(imported.raw_value, "key_size", None)
    if key["kty"] == "RSA" and isinstance(bits, int) and bits < MIN_RSA_BITS:
        raise InvalidInput(f"{where} is a {bits}-bit RSA key; use at least {MIN_RSA_BITS} bits")


def check_ttl(
    value: timedelta | str | None, what: str, limit: timedelta = MAX_TTL, why: str = ""
) -> timedelta | None:
    if value is None:
        return None
    try:
        ttl = parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(f"{what}: {exc}") from None
    ttl = timedelta(seconds=int(ttl.total_seconds()))
    if ttl < timedelta(seconds=1):
        raise InvalidInput(f"{what} must be at least 1s")
    if ttl > limit:
        raise InvalidInput(
            f"{what} {format_duration(ttl)} is longer than the limit of "
            f"{format_duration(limit)}{why}"
        )
    return ttl


def check_spec(spec: ClientSpec, *, max_access_token_ttl: timedelta = MAX_TTL) -> ClientSpec:
    """Check every field and their combinations; fill in the defaults (confidential
    clients use ``client_secret_basic``; grant types are ``authorization_code`` +
    ``refresh_token`` when redirect URIs are given, else ``client_credentials``)."""
    name = check_name(spec.name, "client")
    redirect_uris = check_uris(spec.redirect_uris)
    method = _auth_method(spec.public, spec.auth_method)
    jwks = check_jwks(spec.jwks) if spec.jwks is not None else None
    jwks_uri = check_jwks_uri(spec.jwks_uri) if spec.jwks_uri is not None else None
    _check_keys(method, jwks, jwks_uri)
    return replace(
        spec,
        name=name,
        auth_method=method,
        grant_types=_grant_types(spec.public, spec.grant_types, redirect_uris),
        scopes=check_scopes(spec.scopes),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=check_uris(
            spec.post_logout_redirect_uris, "post-logout redirect URI"
        ),
        audiences=check_audiences(spec.audiences),
        jwks=jwks,
        jwks_uri=jwks_uri,
        access_token_ttl=check_ttl(
            spec.access_token_ttl,
            "access token lifetime",
            min(max_access_token_ttl, MAX_TTL),
            " (signing keys stay published only that long after they retire; raise the "
            "access_token_ttl setting first)",
        ),
        refresh_token_ttl=check_ttl(spec.refresh_token_ttl, "refresh token lifetime"),
        scope=_check_object_scope(spec.scope),
    )


def _check_object_scope(scope: object) -> str:
    if not isinstance(scope, str):
        raise InvalidInput("the client's scope must be a resource path such as org:acme")
    return check_scope(scope)


def _auth_method(public: bool, given: str | None) -> str:
    method = given or (NONE if public else SECRET_BASIC)
    if method not in AUTH_METHODS:
        raise InvalidInput(f"unknown auth method {method!r}: use one of {', '.join(AUTH_METHODS)}")
    if public and method != NONE:
        raise InvalidInput(
            f"a public client has no credential: its auth method is none, not {method}"
        )
    if not public and method == NONE:
        raise InvalidInput("auth method none is only for public clients (--public)")
    return method


def _grant_types(
    public: bool, given: Sequence[str] | None, redirect_uris: tuple[str, ...]
) -> tuple[str, ...]:
    if given is None:
        if public and not redirect_uris:
            raise InvalidInput("a public client needs a redirect URI or explicit grant types")
        return (AUTHORIZATION_CODE, REFRESH_TOKEN) if redirect_uris else (CLIENT_CREDENTIALS,)
    grant_types = check_grant_types(given)
    if public and CLIENT_CREDENTIALS in grant_types:
        raise InvalidInput(
            "a public client cannot use client_credentials: it has no credential (RFC 6749 §4.4)"
        )
    if AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise InvalidInput("the authorization_code grant needs at least one redirect URI")
    return grant_types


def _check_keys(method: str, jwks: dict[str, Any] | None, jwks_uri: str | None) -> None:
    if jwks is not None and jwks_uri is not None:
        raise InvalidInput("give jwks or jwks_uri, not both (RFC 7591 §2)")
    if method == PRIVATE_KEY_JWT and jwks is None and jwks_uri is None:
        raise InvalidInput(
            "private_key_jwt needs the client's public keys: jwks or an https jwks_uri"
        )
    if method != PRIVATE_KEY_JWT and (jwks is not None or jwks_uri is not None):
        raise InvalidInput("jwks and jwks_uri are used only with the private_key_jwt auth method")
