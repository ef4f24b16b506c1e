"""``GET /revocations/v1/feed``: the revocation feed over HTTP (docs/revocation-feed.md).

Enforcement points that verify JWT access tokens locally follow it to refuse a revoked
token within 2 seconds. Callers authenticate as confidential OAuth clients, as at the
introspection endpoint (RFC 7662 §2.1, RFC 6749 §2.3.1). Two transports carry the same
events in ``seq`` order:

- server-sent events (``Accept: text/event-stream``, WHATWG HTML §9.2): ``retry``, the
  backlog, ``event: ready``, then new events as they are recorded, ``: keepalive``
  comments in between; resumed with ``Last-Event-ID`` or ``?after=``;
- long polling: ``?after=<seq>&wait=<seconds>`` answers ``{"events": [...], "next": seq}``
  as soon as there is an event, or empty after ``wait`` seconds.

A stream ends when its client goes away (Starlette's streaming response listens for the
disconnect) and when the server is told to stop: uvicorn waits for open responses before
it exits, so a SIGTERM/SIGINT ends every stream of this process first.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
import weakref
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from authgate.container import Container
from authgate.errors import StorageUnavailable
from authgate.protocol.client_auth import BASIC_CHALLENGE
from authgate.protocol.errors import InvalidClient, InvalidRequest, OAuthError, SlowDown
from authgate.protocol.messages import NO_STORE, OAuthRequest
from authgate.revocations.feed import MAX_BATCH, RevocationEvent, RevocationFeed
from authgate.web.deps import client_ip, container_of
from authgate.web.errors import RETRY_AFTER_SECONDS

router = APIRouter()
FEED_PATH = "/revocations/v1/feed"
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000
DEFAULT_WAIT = 25.0
MAX_WAIT = 30.0
_SEQ = re.compile(r"[0-9]{1,18}")
_SECONDS = re.compile(r"[0-9]{1,2}(\.[0-9]{1,3})?")
_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get(FEED_PATH, include_in_schema=False)
async def revocation_feed(request: Request) -> Response:
    container = container_of(request)
    ip = client_ip(request)
    try:
        blocked = await container.limits.client_auth_blocked(ip)
        if blocked is not None:
            raise SlowDown(
                f"too many failed client authentications from this address; retry in {blocked} s",
                headers={"Retry-After": str(blocked)},
            )
        await _authenticate(container, request, ip)
        after = _after(request)
        seconds = _wait(request)
        feed = _feed(request, container)
        if "text/event-stream" in request.headers.get("accept", "").lower():
            return StreamingResponse(
                _stream(feed, after), media_type="text/event-stream", headers=_STREAM_HEADERS
            )
        events = await _until_disconnected(request, feed.wait(after, seconds))
    except OAuthError as error:
        return _error(error.status, error.error, error.body()["error_description"], error.headers)
    except StorageUnavailable:
        return _error(
            503,
            "temporarily_unavailable",
            "the database is unreachable; try again shortly",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    body = {"events": [e.as_json() for e in events], "next": events[-1].seq if events else after}
    return JSONResponse(body, headers=dict(NO_STORE))


async def _authenticate(container: Container, request: Request, ip: str | None) -> None:
    """RFC 6749 §2.3.1: a confidential client, as at the introspection endpoint."""
    oauth_request = OAuthRequest({}, request.headers.get("authorization"), ip)
    try:
        authenticated = await container.oauth.client_auth.authenticate(oauth_request)
        if authenticated.client.public:
            raise InvalidClient("public clients may not follow the revocation feed")
    except InvalidClient as error:
        await container.limits.client_auth_failed(ip)
        raise InvalidClient(error.description, headers=BASIC_CHALLENGE) from None


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} must be given once")
    return values[0] if values else None


def _after(request: Request) -> int:
    """Where to resume: ``Last-Event-ID`` (WHATWG HTML §9.2.4) wins over ``after``."""
    header = request.headers.get("last-event-id")
    given = header if header is not None else _one(request, "after")
    if given is None or given == "":
        return 0
    if not _SEQ.fullmatch(given):
        source = "the Last-Event-ID header" if header is not None else "after"
        raise InvalidRequest(f"{source} must be an event seq (a whole number >= 0)")
    return int(given)


def _wait(request: Request) -> float:
    given = _one(request, "wait")
    if given is None:
        return DEFAULT_WAIT
    if not _SECONDS.fullmatch(given) or float(given) > MAX_WAIT:
        raise InvalidRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT:g}")
    return float(given)


def _feed(request: Request, container: Container) -> RevocationFeed:
    """One feed per application: its poll serves every follower of this process."""
    state = request.app.state
    feed: RevocationFeed | None = getattr(state, "revocation_feed", None)
    if feed is None:
        feed = RevocationFeed(container.db, container.revocation_watch, container.clock.now)
        state.revocation_feed = feed
        _end_on_signal(feed)
    return feed


async def _stream(feed: RevocationFeed, after: int) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    last = after
    while True:  # the backlog, up to what is known now
        batch = await feed.events(last)
        for event in batch:
            yield _frame(event)
        last = batch[-1].seq if batch else last
        if len(batch) < MAX_BATCH:
            break
    yield b"event: ready\ndata: " + _json({"seq": last}) + b"\n\n"
    async with feed.following():
        quiet_since = time.monotonic()
        while not feed.closed:
            left = KEEPALIVE_SECONDS - (time.monotonic() - quiet_since)
            batch = await feed.wait(last, max(left, 0.0)) if left > 0 else []
            for event in batch:
                yield _frame(event)
            if batch:
                last = batch[-1].seq
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                yield b": keepalive\n\n"
                quiet_since = time.monotonic()


def _frame(event: RevocationEvent) -> bytes:
    return b"id: %d\nevent: revoked\ndata: %s\n\n" % (event.seq, _json(event.as_json()))


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _until_disconnected(request: Request, work: Any) -> list[RevocationEvent]:
    """Runs ``work`` (a long poll) but gives up when the caller hangs up."""
    waiting = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not waiting.done():
        waiting.cancel()
        return []
    return list(waiting.result())


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _error(status: int, error: str, description: str, headers: dict[str, str]) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **headers})


# -- ending streams when the server stops -----------------------------------------------

_open: weakref.WeakKeyDictionary[RevocationFeed, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)
_hooked = False


def _end_on_signal(feed: RevocationFeed) -> None:
    """Closes ``feed`` when the process is told to stop; the handler in place (uvicorn's)
    still runs. Only the main thread may set signal handlers; elsewhere nothing is done."""
    global _hooked
    _open[feed] = asyncio.get_running_loop()
    if _hooked or threading.current_thread() is not threading.main_thread():
        return
    _hooked = True
    for signum in (signal.SIGINT, signal.SIGTERM):
        _chain(signum, signal.getsignal(signum))


def _chain(signum: int, previous: Any) -> None:
    def handler(sig: int, frame: FrameType | None) -> None:
        for feed, loop in list(_open.items()):
            if not loop.is_closed():
                loop.call_soon_threadsafe(feed.close)
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    signal.signal(signum, handler)
