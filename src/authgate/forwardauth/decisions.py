"""Forward-auth decisions (spec §6): a proxied request and its credential in, an answer
(status, headers, tiny JSON body) out. No web framework here: the ASGI endpoint in
``authgate.web.forward_auth`` only reads headers and writes the answer.

Order of the questions: the route (a request no rule matches, or an ambiguous path, is
403 whoever asks), then public routes (200 without looking at any credential), then the
credential (RFC 6750 §3.1: none → 401 without an error code; invalid, expired, revoked or
for another audience → 401 ``invalid_token``), then the permission (403
``insufficient_scope``).

A rule without ``resource`` allows what the credential carries at ``/`` (the token's
scope; what an API key may do now). A rule with ``resource`` asks the access engine
whether the *subject* holds the permission on that resource path (its scoped and
conditional bindings decide, not the token's scope); an API key must also list it.

Decisions for the same credential, rule and resource are remembered for ``cache_ttl``,
never past the credential's expiry, and all are dropped when anything is revoked or the
access model (bindings, roles, users, clients, routes) changes. Refused credentials (401)
are never remembered, so random tokens cannot fill the cache.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from authgate.clock import Clock
from authgate.errors import StorageUnavailable
from authgate.forwardauth.routes import (
    AmbiguousPath,
    Match,
    RouteRule,
    RouteTable,
    rule,
    split_path,
)
from authgate.forwardauth.store import RouteStore, compiled
from authgate.rbac.engine import AccessEngine
from authgate.settings import ForwardAuthSettings
from authgate.storage.changes import ChangeWatch
from authgate.tokens.callers import Caller
from authgate.tokens.credentials import CredentialResolver

REALM = 'Bearer realm="authgate"'
MAX_CREDENTIAL = 8192
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the endpoint sends: every header (content type, length, no-store included)."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Proxied:
    """The original request as the proxy described it."""

    method: str
    uri: str
    host: str | None


def answer(status: int, body: dict[str, str], extra: Headers | None = None) -> Answer:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    return Answer(status, headers, payload)


def _challenge(value: str) -> Headers:
    return [(b"www-authenticate", value.encode("latin-1"))]


NO_CREDENTIAL = answer(
    401,
    {"error": "unauthorized", "error_description": "a credential is required"},
    _challenge(REALM),
)
INVALID_TOKEN = answer(
    401,
    {
        "error": "invalid_token",
        "error_description": "the credential is invalid, expired, revoked or not for this API",
    },
    _challenge(f'{REALM}, error="invalid_token"'),
)
INVALID_REQUEST = answer(
    401,
    {"error": "invalid_request", "error_description": "send Authorization: Bearer <token>"},
    _challenge(f'{REALM}, error="invalid_request"'),
)
NO_ROUTE = answer(
    403, {"error": "access_denied", "error_description": "no forward-auth rule matches"}
)
AMBIGUOUS = answer(
    403,
    {"error": "access_denied", "error_description": "the request path is ambiguous; refused"},
)


def _header_value(text: str) -> bytes:
    """Visible ASCII only: anything else percent-encoded, so no value can split a header."""
    return quote(text, safe="!#$&'()*+,-./:;<=>?@[]^_`{|}~ ").encode("ascii")


def allowed(caller: Caller) -> Answer:
    """200 with the identity headers the proxy passes upstream (spec §6)."""
    return answer(
        200,
        {"decision": "allow"},
        _identity(
            _header_value(caller.subject_id),
            caller.kind.encode("ascii"),
            _header_value(caller.client_id),
            _header_value(caller.scope_text),
            _header_value(caller.key_id or ""),
        ),
    )


def _identity(subject: bytes, kind: bytes, client: bytes, scope: bytes, key: bytes) -> Headers:
    """Every identity header on every 200, empty where it does not apply: proxies that
    copy named headers then overwrite whatever a client sent under those names (and an
    absent header is not left to the proxy, which may pass a placeholder on instead)."""
    return [
        (b"x-authgate-subject", subject),
        (b"x-authgate-subject-type", kind),
        (b"x-authgate-client", client),
        (b"x-authgate-scope", scope),
        (b"x-authgate-key-id", key),
    ]


PUBLIC = answer(200, {"decision": "allow"}, _identity(b"", b"", b"", b"", b""))
"""Public routes: no identity, whatever credential came along (it is not even read)."""


def insufficient(permission: str) -> Answer:
    """RFC 6750 §3.1 ``insufficient_scope``, naming the permission the rule needs."""
    return answer(
        403,
        {
            "error": "insufficient_scope",
            "error_description": f"the credential does not grant {permission} here",
        },
        _challenge(f'{REALM}, error="insufficient_scope", scope="{permission}"'),
    )


class DecisionCache:
    """Bounded: when full, the oldest entry goes. Keys hold the credential itself (it is
    in memory anyway while the request is served); entries end at their own deadline."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: dict[tuple[str, int, str | None], tuple[float, Answer]] = {}

    def get(self, key: tuple[str, int, str | None], now: float) -> Answer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] > now:
            return entry[1]
        del self._entries[key]
        return None

    def put(self, key: tuple[str, int, str | None], until: float, value: Answer) -> None:
        if self._max <= 0:
            return
        if key not in self._entries and len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (until, value)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ForwardAuth:
    def __init__(
        self,
        config_rules: tuple[RouteRule, ...],
        store: RouteStore,
        credentials: CredentialResolver,
        engine: AccessEngine,
        access: ChangeWatch,
        revocations: ChangeWatch,
        now: Callable[[], float],
        *,
        cache_ttl: float,
        cache_max_entries: int,
    ) -> None:
        self.configured = config_rules
        """The rules of ``authgate.toml`` (fixed while the process runs), matched first."""
        self.routes = store
        self._credentials = credentials
        self._engine = engine
        self._access = access
        self._revocations = revocations
        self._now = now
        self._ttl = cache_ttl
        self.cache = DecisionCache(cache_max_entries)
        self._table: RouteTable | None = None
        self._table_generation = -1
        self._generations = (-1, -1)
        self._lock = asyncio.Lock()

    async def decide(
        self, request: Proxied, credential: str | None, source_ip: str | None = None
    ) -> Answer:
        """``credential``: the bearer token or API key; ``""`` for a malformed
        ``Authorization`` header, None when none was sent."""
        table = await self._current_table()
        try:
            found = table.match(request.method, request.host, split_path(request.uri))
        except AmbiguousPath:
            return AMBIGUOUS
        if found is None:
            return NO_ROUTE
        if found.rule.public:
            return PUBLIC
        if credential is None:
            return NO_CREDENTIAL
        if not credential or len(credential) > MAX_CREDENTIAL:
            return INVALID_REQUEST if not credential else INVALID_TOKEN
        key = (credential, found.index, found.resource)
        now = self._now()
        cached = self.cache.get(key, now)
        if cached is not None:
            return cached
        before = self._seen()
        caller = await self._credentials.resolve(
            credential, audience=found.rule.audience, source_ip=source_ip
        )
        if caller is None:
            return INVALID_TOKEN
        result = await self._evaluate(caller, found)
        until = min(now + self._ttl, float(caller.expires_at))
        if until > now and self._seen() == before:  # nothing changed while deciding
            self.cache.put(key, until, result)
        return result

    def _seen(self) -> tuple[int, int]:
        return self._access.generation, self._revocations.generation

    async def _evaluate(self, caller: Caller, found: Match) -> Answer:
        permission = found.rule.permission or ""
        if found.resource is None:
            granted = caller.delegates(permission)
        else:
            granted = (
                caller.key_allows(permission)
                and (
                    await self._engine.check(
                        caller.subject_type, caller.subject_id, permission, found.resource
                    )
                ).allowed
            )
        return allowed(caller) if granted else insufficient(permission)

    async def _current_table(self) -> RouteTable:
        """The rule table; the access generation moving (a route, binding or role
        changed) reloads it, and either generation moving drops every decision."""
        try:
            generations = (await self._access.current(), await self._revocations.current())
        except StorageUnavailable:
            if self._table is None:
                raise
            # Spec §7: what needs no database keeps working. Cached decisions still end
            # at their deadline; anything else needing the database answers 503.
            return self._table
        if generations != self._generations:
            self.cache.clear()
            self._generations = generations
        table = self._table
        if table is not None and self._table_generation == generations[0]:
            return table
        async with self._lock:
            if self._table is None or self._table_generation != generations[0]:
                stored = compiled(await self.routes.all())
                self._table = RouteTable((*self.configured, *stored))
                self._table_generation = generations[0]
                self.cache.clear()
            return self._table


def build_forward_auth(
    settings: ForwardAuthSettings,
    store: RouteStore,
    credentials: CredentialResolver,
    engine: AccessEngine,
    access: ChangeWatch,
    revocations: ChangeWatch,
    clock: Clock,
) -> ForwardAuth:
    """The service from the ``[forward_auth]`` table (its rules were checked at start-up)."""
    rules = tuple(
        rule(
            route.path,
            permission=route.permission,
            public=route.public,
            host=route.host,
            methods=route.methods,
            audience=route.audience,
            resource=route.resource,
        )
        for route in settings.routes
    )
    return ForwardAuth(
        rules,
        store,
        credentials,
        engine,
        access,
        revocations,
        lambda: clock.now().timestamp(),
        cache_ttl=settings.cache_ttl.total_seconds(),
        cache_max_entries=settings.cache_max_entries,
    )
