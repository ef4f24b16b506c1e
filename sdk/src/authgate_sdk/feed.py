"""Following AuthGate's revocation feed, so a revoked JWT is refused within 2 seconds while
verification stays local.

The feed (``revocation_feed_endpoint`` in discovery) is a server-sent-events stream (the
WHATWG HTML "Server-sent events" format) of ordered events, read with the verifier's
client credentials (``client_secret_basic``, RFC 6749 §2.3.1)::

    {"seq": 42, "kind": "jti"|"grant"|"user"|"client"|"apikey", "value": "...",
     "at": <unix seconds>, "expires_at": <unix seconds>}

:class:`Revocations` keeps the live events and says whether a token's claims are refused;
:class:`RevocationFeed` follows the stream — from an asyncio task or a daemon thread —
reconnecting with backoff and resuming with ``Last-Event-ID`` after the last event seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("authgate_sdk")

KINDS = frozenset({"jti", "grant", "user", "client", "apikey"})
#: The server sends a keepalive comment every 15 s: a stream silent for longer is dead.
READ_TIMEOUT = 30.0
_EXPIRE_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    seq: int
    kind: str
    value: str
    at: float
    expires_at: float

    @classmethod
    def parse(cls, data: Any) -> RevocationEvent | None:
        """The event of one ``data`` payload, or None when it is not one we understand."""
        if not isinstance(data, dict):
            return None
        seq, kind, value = data.get("seq"), data.get("kind"), data.get("value")
        at, expires_at = data.get("at"), data.get("expires_at")
        numbers = all(
            isinstance(n, int | float) and not isinstance(n, bool) for n in (at, expires_at)
        )
        if not (isinstance(seq, int) and kind in KINDS and isinstance(value, str) and numbers):
            return None
        return cls(seq, str(kind), value, float(at), float(expires_at))  # type: ignore[arg-type]


class Revocations:
    """The live revocation events, by kind and value.

    ``jti`` and ``grant`` refuse the token whose ``jti`` / ``gid`` is the value; ``user``
    and ``client`` refuse tokens of that ``sub`` / ``client_id`` issued at or before the
    event (``iat <= at``); ``apikey`` only drops cached introspection answers."""

    def __init__(self) -> None:
        # value -> (at, expires_at); the latest ``at`` wins for users and clients.
        self.jti: dict[str, tuple[float, float]] = {}
        self.grant: dict[str, tuple[float, float]] = {}
        self.user: dict[str, tuple[float, float]] = {}
        self.client: dict[str, tuple[float, float]] = {}
        self.apikey: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return sum(len(d) for d in (self.jti, self.grant, self.user, self.client, self.apikey))

    def add(self, event: RevocationEvent) -> None:
        table: dict[str, tuple[float, float]] = getattr(self, event.kind)
        old = table.get(event.value)
        if old is None or old[0] <= event.at:
            table[event.value] = (event.at, max(event.expires_at, old[1] if old else 0.0))

    def expire(self, now: float) -> None:
        """Forget events past their ``expires_at``: all they refused has expired."""
        for table in (self.jti, self.grant, self.user, self.client, self.apikey):
            for value, (_, expires_at) in list(table.items()):
                if expires_at <= now:
                    table.pop(value, None)

    def refuses(self, payload: Mapping[str, Any]) -> bool:
        """Whether a JWT access token with these (verified) claims is revoked."""
        if self.jti and payload.get("jti") in self.jti:
            return True
        if self.grant:
            gid = payload.get("gid")
            if isinstance(gid, str) and gid in self.grant:
                return True
        iat = payload.get("iat", 0)
        if self.user:
            found = self.user.get(payload.get("sub"))  # type: ignore[arg-type]
            if found is not None and iat <= found[0]:
                return True
        if self.client:
            found = self.client.get(payload.get("client_id"))  # type: ignore[arg-type]
            if found is not None and iat <= found[0]:
                return True
        return False


def event_matches(event: RevocationEvent, raw: Mapping[str, Any], key_id: str | None) -> bool:
    """Whether a cached answer (JWT claims or an introspection answer) is about something
    ``event`` revokes; for users and clients, anything of theirs, whenever issued."""
    kind, value = event.kind, event.value
    if kind == "jti":
        return raw.get("jti") == value
    if kind == "grant":
        return raw.get("gid") == value
    if kind == "user":
        return raw.get("sub") == value
    if kind == "client":
        return raw.get("client_id") == value or raw.get("sub") == value
    return key_id == value  # apikey


class _EventStream:
    """The WHATWG server-sent events parser: lines in, (event type, data, id) out."""

    def __init__(self) -> None:
        self.kind = ""
        self.data: list[str] = []
        self.last_id: str | None = None
        self.retry: float | None = None

    def line(self, line: str) -> tuple[str, str, str | None] | None:
        if not line:
            if not self.data:
                self.kind = ""
                return None
            dispatched = (self.kind or "message", "\n".join(self.data), self.last_id)
            self.kind, self.data = "", []
            return dispatched
        if line.startswith(":"):
            return None  # a comment (keepalive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.kind = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value) / 1000
        return None


Listener = Callable[[RevocationEvent], None]


class RevocationFeed:
    """Follows the feed at ``url`` with the client credentials, keeping :attr:`revocations`
    current and telling each listener about every new event.

    Run it with :meth:`run` (an asyncio task) or :meth:`start_thread` (a daemon thread);
    :attr:`connected`, :attr:`last_contact` and :attr:`last_event_at` say how it is doing.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 5.0,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.url = url
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._timeout = httpx.Timeout(timeout, read=read_timeout)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self.revocations = Revocations()
        self.listeners: list[Listener] = []
        #: Whether the stream is open and caught up (the server sent ``ready``).
        self.connected = False
        #: The last ``seq`` seen: where a reconnection resumes.
        self.last_seq = 0
        #: ``time.monotonic()`` of the last byte from the feed (or of the start).
        self.last_contact = time.monotonic()
        #: ``time.time()`` when the last event arrived, or None.
        self.last_event_at: float | None = None
        self.started = False
        self.failures = 0
        self.last_error: str | None = None
        self._next_expiry = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sync_response: httpx.Response | None = None
        self._resolve_url: Callable[[], str] | None = None

    # -- what the verifier reads ---------------------------------------------------------

    def seconds_since_contact(self) -> float:
        return time.monotonic() - self.last_contact

    def down_for(self, grace: float) -> bool:
        """Whether the feed has been out of reach for longer than ``grace`` seconds."""
        return not self.connected and time.monotonic() - self.last_contact > grace

    # -- handling what arrives -----------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_seq:
            headers["Last-Event-ID"] = str(self.last_seq)
        return headers

    def _check(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise _FeedError(f"the feed answered {response.status_code}")
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raise _FeedError("the feed did not answer with an event stream")

    def _line(self, line: str, parser: _EventStream) -> None:
        self.last_contact = time.monotonic()
        dispatched = parser.line(line)
        if dispatched is None:
            return
        kind, data, _ = dispatched
        try:
            payload = json.loads(data)
        except ValueError:
            log.warning("ignoring a revocation feed message that is not JSON")
            return
        if kind == "ready":
            if not self.connected:
                log.info("revocation feed caught up at seq %s", self.last_seq)
            self.connected = True
            self.failures = 0
        elif kind == "revoked":
            event = RevocationEvent.parse(payload)
            if event is None:
                log.warning("ignoring a malformed revocation event")
                return
            self._apply(event)
        now = time.time()
        if now >= self._next_expiry:
            self.revocations.expire(now)
            self._next_expiry = now + _EXPIRE_EVERY

    def _apply(self, event: RevocationEvent) -> None:
        if event.seq <= self.last_seq:
            return  # seen already (a replay after reconnecting)
        self.revocations.add(event)
        self.last_seq = event.seq
        self.last_event_at = time.time()
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the feed
                log.exception("a revocation listener failed")

    def lost(self, exc: BaseException) -> float:
        """Record a lost connection; the delay before the next attempt (exponential
        backoff with jitter, capped)."""
        if self.connected:
            log.warning("revocation feed lost: %s", exc)
        self.connected = False
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        delay = min(self._max_backoff, self._backoff * 2.0 ** min(self.failures - 1, 10))
        return float(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter, not a secret)

    # -- asyncio -------------------------------------------------------------------------

    async def run(self, http: httpx.AsyncClient | None = None) -> None:
        """Follow the feed until cancelled."""
        self.started = True
        self.last_contact = time.monotonic()
        own = http is None
        client = http or httpx.AsyncClient(timeout=self._timeout)
        try:
            while True:
                try:
                    await self._follow_async(client)
                    raise _FeedError("the feed closed the stream")
                except (httpx.HTTPError, _FeedError, UnicodeDecodeError) as exc:
                    await asyncio.sleep(self.lost(exc))
        finally:
            self.connected = False
            if own:
                await client.aclose()

    async def _follow_async(self, client: httpx.AsyncClient) -> None:
        parser = _EventStream()
        async with client.stream(
            "GET", self.url, headers=self._headers(), auth=self._auth, timeout=self._timeout
        ) as response:
            self._check(response)
            self.last_contact = time.monotonic()
            async for line in response.aiter_lines():
                self._line(line, parser)

    # -- a thread ------------------------------------------------------------------------

    def start_thread(self, resolve_url: Callable[[], str] | None = None) -> threading.Thread:
        """Follow the feed from a daemon thread (for synchronous applications).
        ``resolve_url`` finds the feed's URL when none was given (tried with backoff)."""
        self._resolve_url = resolve_url
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self.started = True
        self.last_contact = time.monotonic()
        self._thread = threading.Thread(
            target=self._run_sync, name="authgate-revocation-feed", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop_thread(self, timeout: float = 5.0) -> None:
        self._stop.set()
        response = self._sync_response
        if response is not None:
            # Shutting the socket down wakes the thread blocked reading from it.
            with contextlib.suppress(Exception):
                stream = response.extensions["network_stream"]
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.connected = False

    def _run_sync(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while not self._stop.is_set():
                try:
                    if not self.url and self._resolve_url is not None:
                        self.url = self._resolve_url()
                    self._follow_sync(client)
                    raise _FeedError("the feed closed the stream")
                except Exception as exc:  # network, protocol, or a response closed by stop
                    if self._stop.is_set():
                        break
                    self._stop.wait(self.lost(exc))
        self.connected = False

    def _follow_sync(self, client: httpx.Client) -> None:
        parser = _EventStream()
        with client.stream(
            "GET", self.url, headers=self._headers(), auth=self._auth, timeout=self._timeout
        ) as response:
            self._sync_response = response
            try:
                self._check(response)
                self.last_contact = time.monotonic()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    self._line(line, parser)
            finally:
                self._sync_response = None


class _FeedError(Exception):
    """The feed answered something other than an event stream."""
