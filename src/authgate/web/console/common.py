"""What every console page shares: the signed-in administrator as an actor of the admin
policy, the menu they may use, page rendering, CSRF and the confirmation checkbox.

Every page and every action asks :class:`AdminPolicy` — AuthGate's own engine — for the
same ``authgate:*`` permission the admin API would need, at the object's scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from authgate.audit.events import AuditContext
from authgate.container import Container
from authgate.rbac.admin import AdminPolicy
from authgate.rbac.permissions import grants
from authgate.rbac.service import ROOT
from authgate.web.deps import audit_context
from authgate.web.login import CSRF_FAILED
from authgate.web.render import csrf_ok, page

USERS_READ = "authgate:users.read"
USERS_WRITE = "authgate:users.write"
GROUPS_READ = "authgate:groups.read"
GROUPS_WRITE = "authgate:groups.write"
ROLES_READ = "authgate:roles.read"
ROLES_WRITE = "authgate:roles.write"
BINDINGS_READ = "authgate:bindings.read"
BINDINGS_WRITE = "authgate:bindings.write"
APIKEYS_READ = "authgate:apikeys.read"
APIKEYS_WRITE = "authgate:apikeys.write"
CLIENTS_READ = "authgate:clients.read"
CLIENTS_WRITE = "authgate:clients.write"
AUDIT_READ = "authgate:audit.read"

#: The menu: (path, label, the permission that shows it, anywhere it is held).
MENU = (
    ("/console", "Dashboard", None),
    ("/console/users", "Users", USERS_READ),
    ("/console/groups", "Groups", GROUPS_READ),
    ("/console/roles", "Roles", ROLES_READ),
    ("/console/bindings", "Bindings", BINDINGS_READ),
    ("/console/check", "Access checker", BINDINGS_READ),
    ("/console/clients", "Clients", CLIENTS_READ),
    ("/console/audit", "Audit log", AUDIT_READ),
)
ADMIN_PERMISSIONS = (
    USERS_READ,
    USERS_WRITE,
    GROUPS_READ,
    GROUPS_WRITE,
    ROLES_READ,
    ROLES_WRITE,
    BINDINGS_READ,
    BINDINGS_WRITE,
    APIKEYS_READ,
    APIKEYS_WRITE,
    CLIENTS_READ,
    CLIENTS_WRITE,
    AUDIT_READ,
)
NOT_CONFIRMED = "Tick the confirmation box to go ahead."


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
        return page(
            self.request,
            f"console/{template}",
            status,
            me=self.actor,
            menu=menu,
            current=self.request.url.path,
            error=error,
            **context,
        )

    async def form(self) -> Mapping[str, str] | None:
        """The posted fields, or ``None`` when the CSRF token is missing or wrong."""
        data = await self.request.form(max_files=0, max_fields=50)
        fields = {k: v.strip() for k, v in data.items() if isinstance(v, str)}
        return fields if csrf_ok(self.request, fields.get("csrf_token")) else None

    def refused(self) -> Response:
        return self.render("refused.html", 403, error=CSRF_FAILED)


def is_admin(held: frozenset[str]) -> bool:
    return any(grants(held, p) for p in ADMIN_PERMISSIONS)


def confirmed(fields: Mapping[str, str]) -> bool:
    """Destructive actions carry a ticked ``confirm`` checkbox (no script needed)."""
    return fields.get("confirm") == "yes"
