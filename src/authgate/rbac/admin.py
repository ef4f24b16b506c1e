"""Who may change the access model through the admin API (spec §4).

The admin API is authorized by AuthGate's own engine, never by the access token's scope:
the caller must hold ``authgate:<object>.read|write`` at the scope of the object — a
binding's scope for bindings, ``/`` for roles, groups and users (global objects for now).

Holding a ``.write`` permission is not enough to hand out access: nobody may give what
they do not hold. These are the rules against privilege escalation:

- binding role R on scope S needs ``authgate:bindings.write`` at S *and* every effective
  permission of R (inherited ones included) at S — the caller's own decision for each,
  so ``*`` in R needs ``*`` (the ``authgate-admin`` role);
- removing a binding needs ``authgate:bindings.write`` at its scope;
- creating or changing a role needs ``authgate:roles.write`` at ``/`` and every
  permission the role would then have, at ``/``;
- adding a user to a group grants them each of the group's bindings, so it needs
  ``authgate:groups.write`` at ``/`` and, for every binding of the group, every
  permission of its role at its scope.

A role's effective permissions are read from the database at the time of the check (not
from the decision index, which may lag another process's change by a poll interval).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from authgate.errors import AuthGateError, InvalidInput, NotFound
from authgate.rbac.engine import AccessEngine
from authgate.rbac.models import Binding
from authgate.rbac.service import (
    ROOT,
    AccessService,
    check_permissions,
    check_role_name,
    check_scope,
)

ROLES_READ = "authgate:roles.read"
ROLES_WRITE = "authgate:roles.write"
GROUPS_READ = "authgate:groups.read"
GROUPS_WRITE = "authgate:groups.write"
BINDINGS_READ = "authgate:bindings.read"
BINDINGS_WRITE = "authgate:bindings.write"
USERS_READ = "authgate:users.read"
USERS_WRITE = "authgate:users.write"
CLIENTS_READ = "authgate:clients.read"
CLIENTS_WRITE = "authgate:clients.write"
APIKEYS_READ = "authgate:apikeys.read"
APIKEYS_WRITE = "authgate:apikeys.write"
APIS_READ = "authgate:apis.read"
APIS_WRITE = "authgate:apis.write"
AUDIT_READ = "authgate:audit.read"
ROUTES_READ = "authgate:routes.read"
ROUTES_WRITE = "authgate:routes.write"
KEYS_READ = "authgate:keys.read"
KEYS_WRITE = "authgate:keys.write"
#: Every permission of AuthGate's own administration (the admin API and the console).
ADMINISTRATION = (
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
    APIS_READ,
    APIS_WRITE,
    AUDIT_READ,
    ROUTES_READ,
    ROUTES_WRITE,
    KEYS_READ,
    KEYS_WRITE,
)
_NAMED_AT_MOST = 10  # missing permissions spelled out in one refusal


class AccessDenied(AuthGateError):
    """The caller lacks an ``authgate:*`` permission at ``scope`` (RFC 6750 §3.1
    ``insufficient_scope``: the request needs more than the token's holder has)."""

    code = "insufficient_scope"
    status = 403

    def __init__(self, message: str, permission: str, scope: str) -> None:
        super().__init__(message)
        self.permission = permission
        self.scope = scope


class EscalationRefused(AccessDenied):
    """The change would give someone a permission the caller does not hold there."""

    code = "privilege_escalation"


class Actor(Protocol):
    """Who calls: a user (by id) or a client (by client id)."""

    @property
    def subject_type(self) -> str: ...

    @property
    def subject_id(self) -> str: ...

    def key_allows(self, permission: str) -> bool:
        """False when the caller uses an API key whose list leaves ``permission`` out."""
        ...


class AdminPolicy:
    def __init__(self, engine: AccessEngine, access: AccessService) -> None:
        self._engine = engine
        self._access = access
        #: Every (permission, scope) found held: what this request's answer relied on, so
        #: a replay of that answer (``Idempotency-Key``) can ask again.
        self.relied_on: set[tuple[str, str]] = set()

    async def holds(self, actor: Actor, permission: str, scope: str = ROOT) -> bool:
        """Held without a condition. Administration happens outside any resource's
        context, so a conditional grant cannot be judged here: a condition that holds
        when data is missing must not become administrative power, nor be handed on
        unconditionally to others."""
        if not actor.key_allows(permission):
            return False
        decision = await self._engine.check(actor.subject_type, actor.subject_id, permission, scope)
        held = decision.allowed and decision.grant is not None and decision.grant.condition is None
        if held:
            self.relied_on.add((permission, scope))
        return held

    async def require(self, actor: Actor, permission: str, scope: str = ROOT) -> None:
        if not await self.holds(actor, permission, scope):
            raise AccessDenied(
                f"this needs permission {permission} on scope {scope}, which the caller "
                "does not hold",
                permission,
                scope,
            )

    async def check_key_for(self, actor: Actor, owner: str, permissions: Sequence[str]) -> None:
        """An API key made for someone else than the caller needs ``apikeys.write`` at
        ``/``, must list what it may do, and may list only what the caller holds at ``/``:
        a key carries no more than its maker could grant."""
        if owner == f"{actor.subject_type}:{actor.subject_id}":
            return
        await self.require(actor, APIKEYS_WRITE)
        if not permissions:
            raise InvalidInput(
                "a key made for someone else must list its permissions (it may carry only "
                "what you hold)"
            )
        for permission in permissions:
            if not await self.holds(actor, permission, ROOT):
                raise EscalationRefused(
                    f"you do not hold {permission} at /, so you cannot put it on a key",
                    permission,
                    ROOT,
                )

    async def require_client_change(self, actor: Actor, scope: str, first_party: bool) -> None:
        """``clients.write`` where the client lives; for a first-party client at ``/``
        only: it skips consent and may act for users on AuthGate's own API, so whoever may
        change its redirect URIs or its secret could receive any user's admin token."""
        await self.require(actor, CLIENTS_WRITE, ROOT if first_party else scope)

    async def role_permissions(self, name: str) -> frozenset[str]:
        """``name``'s permissions with everything it inherits, as stored now."""
        held: set[str] = set()
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            try:
                role = await self._access.get_role(current)
            except NotFound:
                if current == name:
                    raise
                continue  # a parent deleted meanwhile grants nothing
            held.update(role.permissions)
            pending.extend(role.inherits)
        return frozenset(held)

    async def _require_all(
        self, actor: Actor, permissions: Iterable[str], scope: str, what: str
    ) -> None:
        missing = [p for p in sorted(permissions) if not await self.holds(actor, p, scope)]
        if missing:
            named = ", ".join(missing[:_NAMED_AT_MOST])
            more = len(missing) - _NAMED_AT_MOST
            if more > 0:
                named += f" and {more} more"
            raise EscalationRefused(
                f"{what} would grant {named} on scope {scope}, which the caller does not "
                "hold there; nobody may grant what they do not hold",
                missing[0],
                scope,
            )

    # -- roles ----------------------------------------------------------------------------

    async def check_new_role(
        self, actor: Actor, name: str, permissions: Sequence[str], inherits: Sequence[str]
    ) -> None:
        await self.require(actor, ROLES_WRITE)
        check_role_name(name)
        would_hold = set(check_permissions(permissions))
        for parent in inherits:
            if parent == name:
                raise InvalidInput(f"role {name!r} cannot inherit itself")
            would_hold |= await self._parent_permissions(parent)
        await self._require_all(actor, would_hold, ROOT, f"role {name!r}")

    async def check_role_change(
        self,
        actor: Actor,
        name: str,
        *,
        permissions: Sequence[str] | None,
        inherits: Sequence[str] | None,
    ) -> None:
        """Call after ``roles.write`` is known to be held and the role to exist."""
        current = await self._access.get_role(name)
        own = current.permissions if permissions is None else check_permissions(permissions)
        parents = current.inherits if inherits is None else inherits
        would_hold = set(own)
        for parent in parents:
            would_hold |= await self._parent_permissions(parent)
        await self._require_all(actor, would_hold, ROOT, f"role {name!r}")

    async def _parent_permissions(self, parent: str) -> frozenset[str]:
        check_role_name(parent)
        try:
            return await self.role_permissions(parent)
        except NotFound:
            raise NotFound(f"no role named {parent!r} to inherit") from None

    # -- bindings -------------------------------------------------------------------------

    async def check_bind(self, actor: Actor, role: str, scope: str) -> str:
        """Returns the scope in its stored form."""
        path = check_scope(scope)
        await self.require(actor, BINDINGS_WRITE, path)
        permissions = await self.role_permissions(role)
        await self._require_all(actor, permissions, path, f"binding role {role!r}")
        return path

    async def check_unbind(self, actor: Actor, binding: Binding) -> None:
        await self.require(actor, BINDINGS_WRITE, binding.scope)

    # -- credentials --------------------------------------------------------------------

    async def check_takeover(self, actor: Actor, member: str, what: str) -> None:
        """Whoever sets a user's password or second factor, or a client's credentials,
        can act as them: the caller must hold, unconditionally, every permission
        ``member`` holds (through its own bindings and, for a user, its groups'), where it
        holds it. ``what`` names the action, e.g. "setting the password of"."""
        roles: dict[str, frozenset[str]] = {}
        groups = []
        if member.startswith("user:"):  # read now: the index may lag another process
            groups = [f"group:{name}" for name in await self._access.groups_of(member[5:])]
        for holder in (member, *groups):
            after: str | None = None
            while True:
                page = await self._access.list_bindings(after, 500, member=holder)
                for binding in page:
                    if binding.role not in roles:
                        try:
                            roles[binding.role] = await self.role_permissions(binding.role)
                        except NotFound:  # deleted meanwhile: grants nothing
                            roles[binding.role] = frozenset()
                    await self._require_all(
                        actor, roles[binding.role], binding.scope, f"{what} {member}"
                    )
                if len(page) < 500:
                    break
                after = page[-1].id

    # -- groups ---------------------------------------------------------------------------

    async def check_join(self, actor: Actor, group: str) -> None:
        """Adding a member hands them every binding of ``group``: the caller must hold
        what each of them grants, where it grants it. Call after ``groups.write``."""
        roles: dict[str, frozenset[str]] = {}
        after: str | None = None
        while True:
            page = await self._access.list_bindings(after, 500, member=f"group:{group}")
            for binding in page:
                if binding.role not in roles:
                    roles[binding.role] = await self.role_permissions(binding.role)
                await self._require_all(
                    actor,
                    roles[binding.role],
                    binding.scope,
                    f"joining group {group!r} (binding {binding.id} of role {binding.role!r})",
                )
            if len(page) < 500:
                return
            after = page[-1].id
