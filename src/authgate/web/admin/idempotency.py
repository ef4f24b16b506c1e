"""``Idempotency-Key`` on creating ``POST`` requests (draft-ietf-httpapi-idempotency-key-
header): a retry with the same key gets the first answer instead of a second object.

Keys are per caller (the user or client, and the API key when one is used), so nobody
sees another caller's answer. The request's fingerprint is the SHA-256 of its method,
path and body: the same key with another request is 422 ``idempotency_key_reused``; a
retry while the first request still runs is 409 ``idempotency_key_in_use``. Only a
success is remembered (for 24 hours): a request that failed may be sent again with the
same key. Remembered answers are sealed with a key derived from the master key, since
some (a new API key, a client secret) hold a secret shown only once; and a replay asks
the access engine again for every permission the first answer relied on, so a caller
who has lost a permission since cannot fetch that secret again.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, ParamSpec

from fastapi import Header
from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import AuthGateError, InvalidInput
from authgate.storage.idempotency import IdempotencyStore
from authgate.web.admin.conventions import Admin

HEADER = "Idempotency-Key"
REMEMBERED_FOR = timedelta(hours=24)
#: A reservation this old belongs to a request that died (a crash, a lost connection).
ABANDONED_AFTER = timedelta(minutes=2)
_KEY = re.compile(r"[\x21-\x7e]{1,255}\Z")
_KEPT_HEADERS = ("content-type", "etag", "location", "cache-control")
P = ParamSpec("P")


class KeyReused(AuthGateError):
    """Draft §2.7: the key was already used with a different request payload."""

    code = "idempotency_key_reused"
    status = 422


class KeyInUse(AuthGateError):
    """Draft §2.7: the first request with this key has not finished yet."""

    code = "idempotency_key_in_use"
    status = 409


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="makes a retry safe: the same key and body get the first answer "
        "(1-255 visible ASCII characters; remembered for 24 hours)",
    ),
]


def _caller(admin: Admin) -> str:
    caller = admin.caller
    return caller.member + (f" key:{caller.key_id}" if caller.key_id is not None else "")


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _seal(admin: Admin, caller: str, key: str, response: Response) -> bytes:
    kept = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    data = {
        "headers": kept,
        "body": base64.b64encode(bytes(response.body)).decode("ascii"),
        "relied_on": sorted(admin.policy.relied_on),
    }
    plain = json.dumps(data, sort_keys=True).encode()
    return admin.container.master.seal(plain, f"idempotent answer:{caller}:{key}")


async def _replay(admin: Admin, caller: str, key: str, status: int, sealed: bytes) -> Response:
    data = json.loads(admin.container.master.open(sealed, f"idempotent answer:{caller}:{key}"))
    for permission, scope in data.get("relied_on", ()):
        await admin.require(permission, scope)
    headers = {**data["headers"], "Idempotent-Replayed": "true"}
    return Response(base64.b64decode(data["body"]), status, headers)


async def once(
    request: Request, admin: Admin, key: str | None, handle: Callable[[], Awaitable[Response]]
) -> Response:
    """Run ``handle`` once per (caller, key); a retry gets the remembered answer."""
    if key is None:
        return await handle()
    if not _KEY.match(key) or len(request.headers.getlist(HEADER)) > 1:
        raise InvalidInput(f"send one {HEADER} of 1-255 visible ASCII characters")
    caller = _caller(admin)
    now = admin.container.clock.now()
    store = IdempotencyStore(admin.container.db)
    fingerprint = _fingerprint(request, await request.body())
    earlier = await store.reserve(
        caller,
        key,
        fingerprint,
        now,
        expire_before=now - REMEMBERED_FOR,
        stale_before=now - ABANDONED_AFTER,
    )
    if earlier is not None:
        if earlier.status is None or earlier.response is None:
            raise KeyInUse(f"the first request with this {HEADER} is still running; retry shortly")
        if earlier.fingerprint != fingerprint:
            raise KeyReused(
                f"this {HEADER} was used for a different request; use a new key for a new request"
            )
        return await _replay(admin, caller, key, earlier.status, earlier.response)
    try:
        response = await handle()
    except BaseException:
        await store.release(caller, key)
        raise
    if 200 <= response.status_code < 300:
        await store.complete(caller, key, response.status_code, _seal(admin, caller, key, response))
        await store.forget_expired(now - REMEMBERED_FOR)  # one indexed delete, usually of nothing
    else:
        await store.release(caller, key)
    return response


def idempotent(endpoint: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Make a creating endpoint honour ``Idempotency-Key``. The endpoint takes
    ``request: Request`` and ``admin: AdminCaller``; the header is added to its
    signature, so it is read (and documented) like any other parameter."""

    call = typing.cast(Callable[..., Awaitable[Response]], endpoint)

    @functools.wraps(endpoint)
    async def wrapper(**kwargs: Any) -> Response:
        key = kwargs.pop("idempotency_key", None)
        request, admin = kwargs["request"], kwargs["admin"]
        return await once(request, admin, key, lambda: call(**kwargs))

    hints = typing.get_type_hints(endpoint, include_extras=True)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(endpoint).parameters.values()
    ]
    params.append(
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=IdempotencyKey,
        )
    )
    wrapper.__signature__ = inspect.Signature(params, return_annotation=Response)  # type: ignore[attr-defined]
    return typing.cast(Callable[P, Awaitable[Response]], wrapper)
