"""The access model: roles, and bindings of members to roles on a scope (spec §1).

This is the minimal model: roles hold permissions, bindings have no condition, members are
users and clients. Every write bumps the ``access`` change counter in its transaction, so
servers that cache the model see the change.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from authgate.accounts.usernames import username_key
from authgate.audit.events import AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.models import Binding, Role
from authgate.rbac.permissions import check_permission
from authgate.storage.db import Database
from authgate.storage.models import BindingRow, RoleRow
from authgate.storage.repositories import (
    BindingRepository,
    ChangeCounterRepository,
    ClientRepository,
    RoleRepository,
    UserRepository,
)

ACCESS_COUNTER = "access"
ROOT = "/"
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,149}$")
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9._:@|+\-]{1,255}$")
# No spaces, controls or lone surrogates: such text names nothing and upsets the drivers.
_PRINTABLE = re.compile(r"^[\x21-\x7e\u00a0-\ud7ff\ue000-\U0010ffff]{1,300}$")
_ID_ALPHABET = string.ascii_letters + string.digits
MAX_SCOPE = 1000
MAX_PERMISSIONS = 1000


def check_role_name(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise InvalidInput(
            f"role name {name!r} must start with a letter or digit, then letters, digits and "
            "_ . : - (at most 150)"
        )
    return name


def check_scope(scope: str) -> str:
    """A resource path: ``/`` (everything) or ``type:id`` segments joined by ``/``, such as
    ``org:acme/project:42``. Surrounding slashes are dropped."""
    text = scope.strip()
    if text == ROOT:
        return ROOT
    path = text.strip("/")
    if len(path) > MAX_SCOPE or not path:
        raise InvalidInput(f"scope {scope!r} must be / or a path of at most {MAX_SCOPE} characters")
    for segment in path.split("/"):
        if not _SEGMENT.match(segment):
            raise InvalidInput(
                f"scope {scope!r} must be / or type:id segments joined by /, such as "
                f"org:acme/project:42 (segment {segment!r} is not type:id)"
            )
    return path


def check_permissions(permissions: Sequence[str]) -> list[str]:
    if isinstance(permissions, str):
        permissions = permissions.split()
    if len(permissions) > MAX_PERMISSIONS:
        raise InvalidInput(f"at most {MAX_PERMISSIONS} permissions")
    return list(dict.fromkeys(check_permission(p) for p in permissions))


def _new_binding_id() -> str:
    return "bnd_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


class AccessService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def create_role(self, ctx: AuditContext, name: str, permissions: Sequence[str]) -> Role:
        row = RoleRow(
            name=check_role_name(name),
            permissions=check_permissions(permissions),
            created_at=self._clock.now(),
        )
        async with self._db.transaction() as session:
            roles = RoleRepository(session)
            if await roles.get(row.name) is not None:
                raise Conflict(f"a role named {row.name!r} already exists")
            await roles.add(row)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.ROLE_CREATED,
                ctx,
                subject=f"role:{row.name}",
                details={"permissions": list(row.permissions)},
            )
        return Role.from_row(row)

    async def bind(
        self,
        ctx: AuditContext,
        role: str,
        member: str,
        scope: str = ROOT,
        condition: str | None = None,
    ) -> Binding:
        """Give ``member`` (``user:<username or id>``, ``client:<client_id>``) ``role`` on
        ``scope``. Users are stored by id, so a rename keeps the binding."""
        kind, _, name = member.partition(":")
        if kind == "group":
            raise InvalidInput("binding a group is not supported yet")
        if kind not in {"user", "client"} or not name:
            raise InvalidInput(
                f"member {member!r} must be user:<username or id> or client:<client_id>"
            )
        if condition is not None:
            raise InvalidInput("conditions on bindings are not supported yet")
        path = check_scope(scope)
        async with self._db.transaction() as session:
            if await RoleRepository(session).get(role) is None:
                raise NotFound(f"no role named {role!r}")
            resolved = await _resolve(session, kind, name)
            bindings = BindingRepository(session)
            existing = await bindings.find(role, resolved, path, None)
            if existing is not None:
                raise Conflict(
                    f"{member} already has role {role!r} on {path} (binding {existing.id})"
                )
            row = BindingRow(
                id=_new_binding_id(),
                role=role,
                member=resolved,
                scope=path,
                condition=None,
                created_at=self._clock.now(),
            )
            await bindings.add(row)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.BINDING_CREATED,
                ctx,
                subject=f"binding:{row.id}",
                details={"role": role, "member": resolved, "scope": path},
            )
        return Binding.from_row(row)

    async def unbind(self, ctx: AuditContext, binding_id: str) -> None:
        async with self._db.transaction() as session:
            bindings = BindingRepository(session)
            row = await bindings.get(binding_id) if _PRINTABLE.match(binding_id) else None
            if row is None:
                raise NotFound(f"no binding with id {binding_id!r}")
            await bindings.delete(row.id)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.BINDING_DELETED,
                ctx,
                subject=f"binding:{row.id}",
                details={"role": row.role, "member": row.member, "scope": row.scope},
            )

    async def permissions_at_root(self, member: str) -> frozenset[str]:
        """What ``member`` (``user:<id>`` or ``client:<client_id>``) holds at scope ``/``
        through unconditional bindings: what tokens may carry (spec §1)."""
        if not _PRINTABLE.match(member):
            return frozenset()
        async with self._db.transaction() as session:
            lists = await BindingRepository(session).permissions_of(member, ROOT)
        return frozenset(p for permissions in lists for p in permissions)


async def _resolve(session: AsyncSession, kind: str, name: str) -> str:
    """``user:<username or id>`` → ``user:<id>``; ``client:<id>`` must exist."""
    if not _PRINTABLE.match(name):
        raise NotFound(f"no {kind} {name!r}")
    if kind == "client":
        if await ClientRepository(session).get(name) is None:
            raise NotFound(f"no client with id {name!r}")
        return f"client:{name}"
    users = UserRepository(session)
    try:
        row = await users.by_key(username_key(name))
    except InvalidInput:  # not a usable username; it may still be an id
        row = None
    if row is None:
        row = await users.by_id(name)
    if row is None:
        raise NotFound(f"no user named {name!r} (nor with that id)")
    return f"user:{row.id}"
