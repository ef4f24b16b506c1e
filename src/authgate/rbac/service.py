"""The access model's writes: roles (with inheritance), groups, and bindings of members
to roles on a scope, optionally under a CEL condition (spec §1).

Every write is one transaction that also bumps the ``access`` change counter and appends
an audit event, so every process's decision index sees the change (this one's at once,
through ``on_change``). Questions are answered by :class:`authgate.rbac.engine.AccessEngine`.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from authgate.accounts.usernames import username_key
from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.conditions import compile_condition
from authgate.rbac.index import find_cycle
from authgate.rbac.models import Binding, Group, Role
from authgate.rbac.permissions import check_permission
from authgate.storage.access_repositories import (
    BindingListRepository,
    GroupRepository,
    RoleGraphRepository,
)
from authgate.storage.changes import ACCESS_COUNTER as CHANGES_COUNTER
from authgate.storage.db import Database
from authgate.storage.models import BindingRow, GroupRow, RoleRow
from authgate.storage.repositories import (
    BindingRepository,
    ChangeCounterRepository,
    ClientRepository,
    RoleRepository,
    UserRepository,
)

ACCESS_COUNTER = CHANGES_COUNTER  # re-exported: the services bump it
ROOT = "/"
#: The built-in role ``init`` binds the admin user to (spec §2); it holds ``*``.
ADMIN_ROLE = "authgate-admin"
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,149}\Z")
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9._:@|+\-]{1,255}\Z")
# No spaces, controls or lone surrogates: such text names nothing and upsets the drivers.
_PRINTABLE = re.compile(r"^[\x21-\x7e\u00a0-\ud7ff\ue000-\U0010ffff]{1,300}\Z")
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


MAX_PAGE = 500


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return limit


class AccessService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._on_change = on_change or (lambda: None)

    def listen(self, on_change: Callable[[], None]) -> None:
        """Tell ``on_change`` (the decision engine) after every committed write."""
        self._on_change = on_change

    async def _changed(self, session: AsyncSession) -> None:
        await ChangeCounterRepository(session).bump(ACCESS_COUNTER)

    # -- roles --------------------------------------------------------------------------

    async def create_role(
        self,
        ctx: AuditContext,
        name: str,
        permissions: Sequence[str],
        inherits: Sequence[str] = (),
    ) -> Role:
        row = RoleRow(
            name=check_role_name(name),
            permissions=check_permissions(permissions),
            created_at=self._clock.now(),
        )
        parents = _unique_names(inherits)
        async with self._db.transaction() as session:
            roles = RoleRepository(session)
            if await roles.get(row.name) is not None:
                raise Conflict(f"a role named {row.name!r} already exists")
            await roles.add(row)
            await self._set_parents(session, row.name, parents)
            await self._changed(session)
            await self._audit.append(
                session,
                AuditTag.ROLE_CREATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"role:{row.name}",
                details={"permissions": list(row.permissions), "inherits": parents},
            )
        self._on_change()
        return Role.from_row(row, parents)

    async def update_role(
        self,
        ctx: AuditContext,
        name: str,
        *,
        permissions: Sequence[str] | None = None,
        inherits: Sequence[str] | None = None,
        expect: Callable[[Role], None] | None = None,
    ) -> Role:
        """Change only what is given; a change that would make inheritance cyclic is
        refused with the cycle named. ``expect`` sees the role as stored, under a row
        lock, before anything changes (an ``If-Match`` check), and may refuse by raising."""
        async with self._db.transaction() as session:
            roles = RoleRepository(session)
            row = await roles.get(name, lock=True) if _PRINTABLE.match(name) else None
            if row is None:
                raise NotFound(f"no role named {name!r}")
            if expect is not None:
                expect(Role.from_row(row, await RoleGraphRepository(session).parents(name)))
            changed: dict[str, list[str]] = {}
            if permissions is not None:
                row.permissions = check_permissions(permissions)
                changed["permissions"] = list(row.permissions)
            graph = RoleGraphRepository(session)
            if inherits is not None:
                parents = _unique_names(inherits)
                await self._set_parents(session, name, parents)
                changed["inherits"] = parents
            await session.flush()
            await self._changed(session)
            await self._audit.append(
                session,
                AuditTag.ROLE_UPDATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"role:{name}",
                details=changed,
            )
            role = Role.from_row(row, await graph.parents(name))
        self._on_change()
        return role

    async def _set_parents(self, session: AsyncSession, name: str, parents: list[str]) -> None:
        roles = RoleRepository(session)
        for parent in parents:
            if parent == name:
                raise InvalidInput(f"role {name!r} cannot inherit itself")
            if not _PRINTABLE.match(parent) or await roles.get(parent) is None:
                raise NotFound(f"no role named {parent!r} to inherit")
        graph = RoleGraphRepository(session)
        edges = [(r, p) for r, p in await graph.all_edges() if r != name]
        edges += [(name, parent) for parent in parents]
        cycle = find_cycle(edges)
        if cycle is not None:
            raise InvalidInput("role inheritance would form a cycle: " + " → ".join(cycle))
        await graph.set_parents(name, parents)

    async def delete_role(self, ctx: AuditContext, name: str) -> None:
        """Its bindings go with it, and roles that inherited it stop inheriting it. The
        built-in administrator role stays: deleting it would lock everyone out."""
        if name == ADMIN_ROLE:
            raise InvalidInput(f"the built-in role {ADMIN_ROLE!r} cannot be deleted")
        async with self._db.transaction() as session:
            row = await RoleRepository(session).get(name) if _PRINTABLE.match(name) else None
            if row is None:
                raise NotFound(f"no role named {name!r}")
            await RoleGraphRepository(session).delete_role(name)
            await self._changed(session)
            await self._audit.append(
                session, AuditTag.ROLE_DELETED, ctx, scope=GLOBAL_SCOPE, subject=f"role:{name}"
            )
        self._on_change()

    async def get_role(self, name: str) -> Role:
        async with self._db.transaction() as session:
            row = await RoleRepository(session).get(name) if _PRINTABLE.match(name) else None
            if row is None:
                raise NotFound(f"no role named {name!r}")
            return Role.from_row(row, await RoleGraphRepository(session).parents(name))

    async def list_roles(self, after: str | None = None, limit: int = 100) -> list[Role]:
        async with self._db.transaction() as session:
            graph = RoleGraphRepository(session)
            rows = await graph.list_roles(after, _page_size(limit))
            parents = await graph.parents_of_many([r.name for r in rows])
            return [Role.from_row(r, parents[r.name]) for r in rows]

    # -- groups -------------------------------------------------------------------------

    async def create_group(
        self, ctx: AuditContext, name: str, members: Sequence[str] = (), description: str = ""
    ) -> Group:
        """``members`` are usernames or user ids."""
        check_role_name(name)
        if len(description) > 500:
            raise InvalidInput("a group description is at most 500 characters")
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            if await groups.get(name) is not None:
                raise Conflict(f"a group named {name!r} already exists")
            await groups.add(
                GroupRow(name=name, description=description, created_at=self._clock.now())
            )
            ids = []
            for member in dict.fromkeys(members):
                user_id = (await _resolve(session, "user", member)).removeprefix("user:")
                await groups.add_member(name, user_id)
                ids.append(user_id)
            await self._changed(session)
            await self._audit.append(
                session,
                AuditTag.GROUP_CREATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"group:{name}",
                details={"members": ids},
            )
        self._on_change()
        return Group(name, description, tuple(sorted(ids)))

    async def delete_group(self, ctx: AuditContext, name: str) -> None:
        """Its bindings go with it; its members lose what it granted them."""
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            if not _PRINTABLE.match(name) or await groups.get(name) is None:
                raise NotFound(f"no group named {name!r}")
            await groups.delete(name)
            await self._changed(session)
            await self._audit.append(
                session, AuditTag.GROUP_DELETED, ctx, scope=GLOBAL_SCOPE, subject=f"group:{name}"
            )
        self._on_change()

    async def add_member(self, ctx: AuditContext, group: str, user: str) -> bool:
        return await self._membership(ctx, group, user, add=True)

    async def remove_member(self, ctx: AuditContext, group: str, user: str) -> bool:
        return await self._membership(ctx, group, user, add=False)

    async def _membership(self, ctx: AuditContext, group: str, user: str, *, add: bool) -> bool:
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            if not _PRINTABLE.match(group) or await groups.get(group, lock=True) is None:
                raise NotFound(f"no group named {group!r}")
            user_id = (await _resolve(session, "user", user)).removeprefix("user:")
            done = await (groups.add_member if add else groups.remove_member)(group, user_id)
            if not done:
                return False
            await self._changed(session)
            tag = AuditTag.GROUP_MEMBER_ADDED if add else AuditTag.GROUP_MEMBER_REMOVED
            await self._audit.append(
                session,
                tag,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"group:{group}",
                details={"user": user_id},
            )
        self._on_change()
        return True

    async def update_group(
        self,
        ctx: AuditContext,
        name: str,
        *,
        description: str,
        expect: Callable[[Group], None] | None = None,
    ) -> Group:
        """A new description (members change one at a time). ``expect`` sees the group as
        stored, under a row lock, before it changes (an ``If-Match`` check)."""
        if len(description) > 500:
            raise InvalidInput("a group description is at most 500 characters")
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            row = await groups.get(name, lock=True) if _PRINTABLE.match(name) else None
            if row is None:
                raise NotFound(f"no group named {name!r}")
            current = Group(row.name, row.description, tuple(await groups.members(name)))
            if expect is not None:
                expect(current)
            row.description = description
            await self._audit.append(
                session,
                AuditTag.GROUP_UPDATED,
                ctx,
                scope=GLOBAL_SCOPE,
                subject=f"group:{name}",
                details={"description": description},
            )
        return Group(current.name, description, current.members)

    async def get_group(self, name: str) -> Group:
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            row = await groups.get(name) if _PRINTABLE.match(name) else None
            if row is None:
                raise NotFound(f"no group named {name!r}")
            return Group(row.name, row.description, tuple(await groups.members(name)))

    async def list_groups(self, after: str | None = None, limit: int = 100) -> list[Group]:
        async with self._db.transaction() as session:
            groups = GroupRepository(session)
            rows = await groups.list_groups(after, _page_size(limit))
            return [Group(r.name, r.description, tuple(await groups.members(r.name))) for r in rows]

    async def groups_of(self, user_id: str) -> list[str]:
        """The names of the groups ``user_id`` is in, as stored now (one indexed query)."""
        async with self._db.transaction() as session:
            return await GroupRepository(session).groups_of(user_id)

    # -- bindings -----------------------------------------------------------------------

    async def bind(
        self,
        ctx: AuditContext,
        role: str,
        member: str,
        scope: str = ROOT,
        condition: str | None = None,
    ) -> Binding:
        """Give ``member`` (``user:<username or id>``, ``client:<client_id>`` or
        ``group:<name>``) ``role`` on ``scope``, optionally only when the CEL ``condition``
        holds. Users are stored by id, so a rename keeps the binding. The condition is
        compiled now: one that does not compile is refused with the compiler's message."""
        kind, _, name = member.partition(":")
        if kind not in {"user", "client", "group"} or not name:
            raise InvalidInput(
                f"member {member!r} must be user:<username or id>, client:<client_id> "
                "or group:<name>"
            )
        source = compile_condition(condition).source if condition is not None else None
        path = check_scope(scope)
        async with self._db.transaction() as session:
            if not _PRINTABLE.match(role) or await RoleRepository(session).get(role) is None:
                raise NotFound(f"no role named {role!r}")
            resolved = await _resolve(session, kind, name)
            bindings = BindingRepository(session)
            existing = await bindings.find(role, resolved, path, source)
            if existing is not None:
                raise Conflict(
                    f"{member} already has role {role!r} on {path} (binding {existing.id})"
                )
            row = BindingRow(
                id=_new_binding_id(),
                role=role,
                member=resolved,
                scope=path,
                condition=source,
                created_at=self._clock.now(),
            )
            await bindings.add(row)
            await self._changed(session)
            details = {"role": role, "member": resolved, "scope": path}
            if source is not None:
                details["condition"] = source
            await self._audit.append(
                session,
                AuditTag.BINDING_CREATED,
                ctx,
                scope=path,
                subject=f"binding:{row.id}",
                details=details,
            )
        self._on_change()
        return Binding.from_row(row)

    async def unbind(self, ctx: AuditContext, binding_id: str) -> None:
        async with self._db.transaction() as session:
            bindings = BindingRepository(session)
            row = await bindings.get(binding_id) if _PRINTABLE.match(binding_id) else None
            if row is None:
                raise NotFound(f"no binding with id {binding_id!r}")
            await bindings.delete(row.id)
            await self._changed(session)
            await self._audit.append(
                session,
                AuditTag.BINDING_DELETED,
                ctx,
                scope=row.scope,
                subject=f"binding:{row.id}",
                details={"role": row.role, "member": row.member, "scope": row.scope},
            )
        self._on_change()

    async def get_binding(self, binding_id: str) -> Binding:
        async with self._db.transaction() as session:
            bindings = BindingRepository(session)
            row = await bindings.get(binding_id) if _PRINTABLE.match(binding_id) else None
            if row is None:
                raise NotFound(f"no binding with id {binding_id!r}")
            return Binding.from_row(row)

    async def list_bindings(
        self,
        after: str | None = None,
        limit: int = 100,
        *,
        member: str | None = None,
        role: str | None = None,
        scope: str | None = None,
    ) -> list[Binding]:
        """In id order; ``member`` as given to :meth:`bind` (resolved the same way)."""
        async with self._db.transaction() as session:
            resolved = None
            if member is not None:
                kind, _, name = member.partition(":")
                try:
                    resolved = await _resolve(session, kind, name)
                except NotFound:
                    return []
            rows = await BindingListRepository(session).list(
                after,
                _page_size(limit),
                member=resolved,
                role=role,
                scope=check_scope(scope) if scope is not None else None,
            )
            return [Binding.from_row(r) for r in rows]


def _unique_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    return sorted(dict.fromkeys(check_role_name(n) for n in names))


async def _resolve(session: AsyncSession, kind: str, name: str) -> str:
    """``user:<username or id>`` → ``user:<id>``; clients and groups must exist."""
    if not _PRINTABLE.match(name):
        raise NotFound(f"no {kind} {name!r}")
    if kind == "client":
        if await ClientRepository(session).get(name) is None:
            raise NotFound(f"no client with id {name!r}")
        return f"client:{name}"
    if kind == "group":
        if await GroupRepository(session).get(name) is None:
            raise NotFound(f"no group named {name!r}")
        return f"group:{name}"
    if kind != "user":
        raise NotFound(f"no {kind} {name!r}")
    # The id first, then the username: the order decisions use too (spec §6), so a
    # username that equals another user's id never picks up that user's bindings.
    users = UserRepository(session)
    row = await users.by_id(name)
    if row is None:
        try:
            row = await users.by_key(username_key(name))
        except InvalidInput:  # not a usable username either
            row = None
    if row is None:
        raise NotFound(f"no user named {name!r} (nor with that id)")
    return f"user:{row.id}"
