"""The authorization request while the browser is away at login or consent: sealed into
the continuation URL, and the client origins its pages must let forms lead to.

Chromium applies CSP ``form-action`` to every redirect that follows a form submission
(CSP Level 3 §6.4.2), so a login or consent page restricted to ``'self'`` would block the
final redirect to the client. Those pages allow exactly the client's registered redirect
URI origins, and no other page does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from authgate.errors import ConfigurationError
from authgate.web.deps import container_of

AUTHORIZE_PATH = "/oauth/authorize"
RESUME_PATH = AUTHORIZE_PATH + "/resume"
_SEAL = "authorization-request"
_LOOPBACK = {"127.0.0.1", "[::1]", "localhost"}
_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//[A-Za-z0-9.\-\[\]:*]+)?\Z")


def seal(request: Request, params: dict[str, str], started_at: datetime) -> str:
    blob = json.dumps({"p": params, "t": started_at.timestamp()}).encode()
    sealed = container_of(request).master.seal(blob, _SEAL)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(request: Request, text: str) -> tuple[dict[str, str], datetime] | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(container_of(request).master.open(raw, _SEAL))
        return dict(data["p"]), datetime.fromtimestamp(float(data["t"]), UTC)
    except (ValueError, KeyError, TypeError, ConfigurationError):
        return None


def csp_sources(uris: Iterable[str]) -> list[str]:
    """CSP source expressions for the origins of ``uris``: ``https://app.example`` for
    web clients, any port on a loopback host (RFC 8252 §7.3), the scheme alone for a
    native app's private-use scheme (RFC 8252 §7.1)."""
    sources: list[str] = []
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme in {"http", "https"} and parts.netloc:
            host = parts.hostname or ""
            host = f"[{host}]" if ":" in host else host
            if parts.scheme == "http" and host in _LOOPBACK:
                source = f"http://{host}:*"
            else:
                source = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        else:
            source = f"{parts.scheme}:"
        if _SAFE.match(source) and source not in sources:
            sources.append(source)
    return sources


async def client_sources(request: Request, client_id: str | None) -> list[str]:
    if not client_id:
        return []
    client = await container_of(request).clients.get(client_id[:200])
    return csp_sources(client.redirect_uris) if client is not None else []


async def continuation_sources(request: Request, next_url: str | None) -> list[str]:
    """The client origins a login page may lead to: those of the authorization request
    sealed in ``next_url``, if it is one."""
    if not next_url or not next_url.startswith(RESUME_PATH + "?"):
        return []
    sealed = parse_qs(urlsplit(next_url).query).get("r", [""])[0]
    unsealed = unseal(request, sealed[:16000])
    return await client_sources(request, unsealed[0].get("client_id")) if unsealed else []
