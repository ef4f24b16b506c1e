"""What every console page shares: the signed-in administrator as an actor of the admin
policy, the menu they may use, page rendering, CSRF and the confirmation checkbox.

Every page and every action asks :class:`AdminPolicy` — AuthGate's own engine — for the
same ``authgate:*`` permission the admin API would need, at the object's scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from authgate.audit.events import AuditContext
from authgate.container import Container
from authgate.errors import InvalidInput
from authgate.rbac.admin import (
    ADMINISTRATION,
    APIS_READ,
    AUDIT_READ,
    BINDINGS_READ,
    CLIENTS_READ,
    GROUPS_READ,
    KEYS_READ,
    ROLES_READ,
    ROUTES_READ,
    USERS_READ,
    AdminPolicy,
)
from authgate.rbac.permissions import grants
from authgate.rbac.service import ROOT
from authgate.web.admin.conventions import decode_cursor, encode_cursor
from authgate.web.console import cookies
from authgate.web.deps import audit_context
from authgate.web.login import CSRF_FAILED
from authgate.web.render import csrf_ok, page, redirect

#: The menu: (path, label, the permission that shows it, anywhere it is held).
MENU = (
    ("/console", "Dashboard", None),
    ("/console/users", "Users", USERS_READ),
    ("/console/groups", "Groups", GROUPS_READ),
    ("/console/roles", "Roles", ROLES_READ),
    ("/console/bindings", "Bindings", BINDINGS_READ),
    ("/console/check", "Access checker", BINDINGS_READ),
    ("/console/clients", "Clients", CLIENTS_READ),
    ("/console/apis", "APIs", APIS_READ),
    ("/console/routes", "Forward auth", ROUTES_READ),
    ("/console/keys", "Signing keys", KEYS_READ),
    ("/console/audit", "Audit log", AUDIT_READ),
)
NOT_CONFIRMED = "Tick the confirmation box to go ahead."
#: Rows on one page of a list, unless ``?limit=`` asks for fewer.
PAGE_SIZE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class ConsoleActor:
    """The signed-in user as the admin policy sees a caller (no API key narrows them)."""

    subject_id: str
    username: str
    subject_type: str = "user"

    @property
    def member(self) -> str:
        return f"user:{self.subject_id}"

    def key_allows(self, permission: str) -> bool:
        return True


@dataclass(frozen=True)
class Console:
    """One request of a signed-in administrator."""

    request: Request
    container: Container
    actor: ConsoleActor
    held_anywhere: frozenset[str]
    #: What the action before this page left to show once (a notice, a new secret).
    result: Mapping[str, Any] = field(default_factory=dict)
    #: Who may see what this page leaves for the next: the user in this browser session.
    holder: str = ""

    @property
    def policy(self) -> AdminPolicy:
        return AdminPolicy(self.container.engine, self.container.access)

    @property
    def ctx(self) -> AuditContext:
        return audit_context(self.request, actor=self.actor.member)

    async def holds(self, permission: str, scope: str = ROOT) -> bool:
        return await self.policy.holds(self.actor, permission, scope)

    async def require(self, permission: str, scope: str = ROOT) -> None:
        await self.policy.require(self.actor, permission, scope)

    def may_somewhere(self, permission: str) -> bool:
        """Held at some scope: enough to show the menu item (each object is checked at its
        own scope when shown)."""
        return grants(self.held_anywhere, permission)

    def render(
        self, template: str, status: int = 200, *, error: str | None = None, **context: Any
    ) -> HTMLResponse:
        menu = [(p, label) for p, label, need in MENU if need is None or self.may_somewhere(need)]
        if context.get("notice") is None:
            context["notice"] = self.result.get("notice")
        response = page(
            self.request,
            f"console/{template}",
            status,
            me=self.actor,
            menu=menu,
            current=self.request.url.path,
            error=error,
            result=self.result,
            **context,
        )
        if cookies.has_result(self.request):
            cookies.clear_cookie(self.request, response, cookies.RESULT)  # shown once
        return response

    def done(self, url: str, **result: object) -> Response:
        """After a change: POST → 303 → GET, the result kept for that one GET (a reload
        neither repeats the change nor shows a secret again)."""
        response = redirect(url)
        cookies.keep_result(self.request, response, self.holder, **result)
        return response

    async def form(self, keep: Sequence[str] = ()) -> Mapping[str, str] | None:
        """The posted fields, trimmed except those named in ``keep`` (passwords), or
        ``None`` when the CSRF token is missing or wrong."""
        data = await self.request.form(max_files=0, max_fields=50)
        fields = {k: v if k in keep else v.strip() for k, v in data.items() if isinstance(v, str)}
        return fields if csrf_ok(self.request, fields.get("csrf_token")) else None

    def refused(self) -> Response:
        return self.render("refused.html", 403, error=CSRF_FAILED)


def is_admin(held: frozenset[str]) -> bool:
    return any(grants(held, p) for p in ADMINISTRATION)


def confirmed(fields: Mapping[str, str]) -> bool:
    """Destructive actions carry a ticked ``confirm`` checkbox (no script needed)."""
    return fields.get("confirm") == "yes"


# -- pages of a list ------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing(Generic[T]):
    """One page of a list and the link to the next one (``None`` on the last page)."""

    items: Sequence[T]
    next_url: str | None


def page_limit(request: Request) -> int:
    """``?limit=`` (1 to :data:`PAGE_SIZE`), else :data:`PAGE_SIZE`."""
    given = request.query_params.get("limit", "")
    if not given:
        return PAGE_SIZE
    if not given.isascii() or not given.isdigit() or not 1 <= int(given) <= PAGE_SIZE:
        raise InvalidInput(f"limit must be a whole number from 1 to {PAGE_SIZE}")
    return int(given)


def page_after(request: Request) -> str | None:
    """The key the page starts after: the admin API's opaque cursor (400 if forged)."""
    return decode_cursor(request.query_params.get("cursor") or None)


def next_link(request: Request, path: str, key: str) -> str:
    """The list at ``path`` with this page's query, the cursor moved on to ``key``."""
    query = {k: v for k, v in request.query_params.items() if k != "cursor"}
    query["cursor"] = encode_cursor(key)
    return f"{path}?{urlencode(query)}"


async def one_page(
    request: Request,
    path: str,
    fetch: Callable[[str | None, int], Awaitable[Sequence[T]]],
    key: Callable[[T], str],
) -> Listing[T]:
    """The rows after the cursor, in the service's stable order; one more is fetched to
    know whether a next page exists."""
    limit = page_limit(request)
    rows = list(await fetch(page_after(request), limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Listing(rows, next_link(request, path, key(rows[-1])) if more and rows else None)
