"""Resource-level decisions from AuthGate's AuthZEN Access Evaluation API (OpenID AuthZEN
Authorization API 1.0 §6): ``await decisions.can("user:alice", "edit", "doc:42")``.

The client authenticates with an access token for AuthGate's own API (audience
``<issuer>/admin``, scope ``authgate:evaluate``) obtained with its client credentials
(RFC 6749 §4.4) and reused until shortly before it expires. Decisions are cached for a
short ``ttl`` (5 s by default) in a bounded cache: a change of roles or bindings reaches a
caller within that time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from authgate_sdk.errors import IssuerUnavailable
from authgate_sdk.http import HttpClients

EVALUATION_PATH = "/access/v1/evaluation"
EVALUATE_SCOPE = "authgate:evaluate"
_TOKEN_MARGIN = 30.0  # seconds before expiry a token is replaced

Entity = str | Mapping[str, Any]


def entity(value: Entity, what: str) -> dict[str, Any]:
    """An AuthZEN subject or resource from ``"type:id"`` or a dict (§5.1, §5.2).

    A string holding ``/`` is a resource path (``"org:acme/order:42"``): its last segment
    gives ``type`` and ``id`` and the whole is sent as ``properties.path``, so bindings on
    every ancestor apply."""
    if isinstance(value, Mapping):
        found = dict(value)
        if not isinstance(found.get("type"), str) or not isinstance(found.get("id"), str):
            raise ValueError(f"the {what} needs a string type and id")
        return found
    last = value.rsplit("/", 1)[-1]
    kind, sep, ident = last.partition(":")
    if not (sep and kind and ident):
        raise ValueError(f'the {what} is "type:id" or a dict with type and id, not {value!r}')
    found = {"type": kind, "id": ident}
    if "/" in value:
        found["properties"] = {"path": value}
    return found


class DecisionClient(HttpClients):
    """Asks AuthGate at ``issuer`` for decisions, as the confidential client ``client_id``
    (``client_secret_basic``) holding ``authgate:evaluate``.

    ``http`` is an ``httpx.AsyncClient`` for :meth:`can` or an ``httpx.Client`` for
    :meth:`can_sync`; by default the client makes its own."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        http: httpx.AsyncClient | httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = self.issuer + "/admin"
        self.ttl = ttl
        self._max = max_entries
        self._auth = httpx.BasicAuth(client_id, client_secret)
        super().__init__(http, timeout)
        self._token: tuple[str, float] | None = None  # (access token, replace at, monotonic)
        self._token_endpoint: str | None = None
        self._alock = asyncio.Lock()
        self._tlock = threading.Lock()
        self._cache: dict[str, tuple[bool, float]] = {}
        #: Requests sent to the evaluation endpoint (cache misses), for tests and metrics.
        self.evaluations = 0

    # -- asking --------------------------------------------------------------------------

    def request(
        self, subject: Entity, action: str, resource: Entity, context: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The AuthZEN evaluation request body (§6.1)."""
        body: dict[str, Any] = {
            "subject": entity(subject, "subject"),
            "action": {"name": action},
            "resource": entity(resource, "resource"),
        }
        if context:
            body["context"] = dict(context)
        return body

    async def can(
        self,
        subject: Entity,
        action: str,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``subject`` may ``action`` on ``resource``: ``can("user:alice",
        "edit", "doc:42")``; ``action`` is a verb (``edit``, read with the resource's type
        as ``doc:edit``) or a permission (``docs:edit``)."""
        body = self.request(subject, action, resource, context)
        key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        hit = self._cached(key)
        if hit is not None:
            return hit
        client = self._async_client()
        for attempt in range(2):
            token = await self._atoken(client, renew=attempt > 0)
            try:
                response = await client.post(
                    self.issuer + EVALUATION_PATH,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise IssuerUnavailable(f"the decision API cannot be reached: {exc}") from exc
            if response.status_code != 401:
                break
        return self._decision(key, response)

    def can_sync(
        self,
        subject: Entity,
        action: str,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """:meth:`can` for synchronous code."""
        body = self.request(subject, action, resource, context)
        key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        hit = self._cached(key)
        if hit is not None:
            return hit
        client = self._sync_client()
        for attempt in range(2):
            token = self._token_sync(client, renew=attempt > 0)
            try:
                response = client.post(
                    self.issuer + EVALUATION_PATH,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise IssuerUnavailable(f"the decision API cannot be reached: {exc}") from exc
            if response.status_code != 401:
                break
        return self._decision(key, response)

    def _decision(self, key: str, response: httpx.Response) -> bool:
        self.evaluations += 1
        if response.status_code == 400:
            raise ValueError(f"AuthGate refused the decision request: {_describe(response)}")
        if response.status_code != 200:
            raise IssuerUnavailable(f"the decision API answered {response.status_code}")
        try:
            decision = response.json().get("decision")
        except (ValueError, AttributeError) as exc:
            raise IssuerUnavailable("the decision API answered something else") from exc
        if not isinstance(decision, bool):
            raise IssuerUnavailable("the decision API gave no decision")
        self._remember(key, decision)
        return decision

    # -- the decision cache --------------------------------------------------------------

    def _cached(self, key: str) -> bool | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if time.monotonic() >= entry[1]:
            self._cache.pop(key, None)
            return None
        return entry[0]

    def _remember(self, key: str, decision: bool) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        if len(self._cache) >= self._max:
            for old, (_, until) in list(self._cache.items()):
                if until <= now:
                    self._cache.pop(old, None)
            if len(self._cache) >= self._max:
                for old in list(itertools.islice(self._cache, self._max // 4 + 1)):
                    self._cache.pop(old, None)
        self._cache[key] = (decision, now + self.ttl)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- the access token ----------------------------------------------------------------

    def _valid_token(self) -> str | None:
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        return None

    async def _atoken(self, client: httpx.AsyncClient, *, renew: bool) -> str:
        token = None if renew else self._valid_token()
        if token is not None:
            return token
        async with self._alock:
            token = None if renew else self._valid_token()
            if token is None:
                try:
                    if self._token_endpoint is None:
                        self._token_endpoint = _token_endpoint(
                            await client.get(self.issuer + "/.well-known/openid-configuration")
                        )
                    response = await client.post(
                        self._token_endpoint, data=self._token_form(), auth=self._auth
                    )
                except httpx.HTTPError as exc:
                    raise IssuerUnavailable(f"cannot get an access token: {exc}") from exc
                token = self._store_token(response)
            return token

    def _token_sync(self, client: httpx.Client, *, renew: bool) -> str:
        token = None if renew else self._valid_token()
        if token is not None:
            return token
        with self._tlock:
            token = None if renew else self._valid_token()
            if token is None:
                try:
                    if self._token_endpoint is None:
                        self._token_endpoint = _token_endpoint(
                            client.get(self.issuer + "/.well-known/openid-configuration")
                        )
                    response = client.post(
                        self._token_endpoint, data=self._token_form(), auth=self._auth
                    )
                except httpx.HTTPError as exc:
                    raise IssuerUnavailable(f"cannot get an access token: {exc}") from exc
                token = self._store_token(response)
            return token

    def _token_form(self) -> dict[str, str]:
        # RFC 6749 §4.4.2, with the API named by RFC 8707 §2 ``resource``.
        return {
            "grant_type": "client_credentials",
            "resource": self.audience,
            "scope": EVALUATE_SCOPE,
        }

    def _store_token(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise IssuerUnavailable(
                f"the token endpoint refused this client: {response.status_code} "
                f"{_describe(response)}"
            )
        body = response.json()
        token, expires_in = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(token, str) or not isinstance(expires_in, int | float):
            raise IssuerUnavailable("the token endpoint gave no access token")
        lifetime = max(float(expires_in) - _TOKEN_MARGIN, float(expires_in) / 2)
        self._token = (token, time.monotonic() + lifetime)
        return token


def _token_endpoint(response: httpx.Response) -> str:
    try:
        uri = response.json().get("token_endpoint") if response.status_code == 200 else None
    except (ValueError, AttributeError):
        uri = None
    if not isinstance(uri, str):
        raise IssuerUnavailable("the discovery document has no token_endpoint")
    return uri


def _describe(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or body)[:200]
    return str(body)[:200]
