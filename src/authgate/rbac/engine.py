"""The decision engine: an :class:`AccessIndex` kept in step with the database.

Every write to the access model bumps the ``access`` change counter in its transaction.
The engine reads the counter at most once per poll interval; when it moved, the index is
rebuilt from one consistent read of the database and swapped in whole. A change made in
this process is seen by the next decision (the writer tells the engine); one made
anywhere else within the poll interval plus one rebuild (docs/access-control.md gives
the figures).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from authgate.accounts.usernames import username_key
from authgate.errors import InvalidInput
from authgate.rbac.conditions import Condition, compile_condition
from authgate.rbac.index import ROOT, AccessIndex, Decision, Grant, Snapshot, UserFacts
from authgate.storage.changes import ChangeWatch
from authgate.storage.db import Database
from authgate.storage.models import (
    BindingRow,
    ClientRow,
    GroupMemberRow,
    RoleParentRow,
    RoleRow,
    UserRow,
)

log = logging.getLogger("authgate.access")

#: A model whose last rebuild took less than this is rebuilt inside the decision that
#: finds it changed; a larger one in the background.
INLINE_REBUILD_SECONDS = 0.25


class AccessEngine:
    def __init__(self, db: Database, watch: ChangeWatch) -> None:
        self._db = db
        self._watch = watch
        self._index: AccessIndex | None = None
        self._generation = -1
        self._stale_locally = False
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self.last_build_seconds = 0.0

    def changed(self) -> None:
        """This process wrote to the model: the next decision waits for a fresh index,
        and the other processes are told (when Redis is configured)."""
        self._stale_locally = True
        self._watch.invalidate()
        for listener in self._listeners:
            listener()

    def also_tell(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change this process makes."""
        self._listeners.append(listener)

    def remote_changed(self) -> None:
        """Another process said it changed the model: rebuild now, not at the next poll
        (the current index keeps answering until the new one is ready)."""
        self._watch.invalidate()

    async def index(self) -> AccessIndex:
        generation = await self._watch.current()
        if self._index is None or self._stale_locally:
            await self.refresh()
        elif generation != self._generation:
            if self.last_build_seconds < INLINE_REBUILD_SECONDS:
                # Another process changed a model small enough to rebuild at once: this
                # decision already sees the change.
                await self.refresh()
            elif self._background is None:
                # A large model: keep answering from the current index while the new
                # one is built (follow() keeps that wait off idle periods).
                self._background = asyncio.create_task(self._refresh_in_background())
        assert self._index is not None
        return self._index

    async def follow(self, poll_seconds: float) -> None:
        """Look for other processes' changes every ``poll_seconds`` until cancelled, so
        the first decision after a quiet spell is not the one that finds the change."""
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                await self.index()
            except Exception:  # the database may be down; decisions say so themselves
                log.warning("could not look for access changes", exc_info=True)

    async def refresh(self) -> AccessIndex:
        """Build the index now (once, however many callers wait for it)."""
        target = self._watch.generation
        async with self._lock:
            if self._index is not None and self._generation >= target and not self._stale_locally:
                return self._index
            self._stale_locally = False
            started = time.perf_counter()
            snapshot = await self._load()
            self._index = await asyncio.to_thread(AccessIndex, snapshot)
            # A large index is millions of long-lived objects: keep the cyclic collector
            # from walking them (a full collection over 1M bindings paused the server
            # for 1.5 s). They are acyclic, so reference counting still frees them.
            gc.freeze()
            self._generation = target
            self.last_build_seconds = time.perf_counter() - started
            log.info(
                "access index built",
                extra={
                    "bindings": self._index.binding_count,
                    "seconds": round(self.last_build_seconds, 3),
                },
            )
            return self._index

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the old index keeps answering; the next poll tries again
            log.exception("could not rebuild the access index")
        finally:
            self._background = None

    async def _load(self) -> Snapshot:
        snapshot = Snapshot()
        async with self._db.transaction() as session:
            for name, permissions in await session.execute(
                select(RoleRow.name, RoleRow.permissions)
            ):
                snapshot.roles[name] = tuple(permissions)
            snapshot.parents = [
                (role, parent)
                for role, parent in await session.execute(
                    select(RoleParentRow.role, RoleParentRow.parent)
                )
            ]
            snapshot.members = [
                (group, user_id)
                for group, user_id in await session.execute(
                    select(GroupMemberRow.group, GroupMemberRow.user_id)
                )
            ]
            users = await session.execute(
                select(
                    UserRow.id,
                    UserRow.username,
                    UserRow.username_key,
                    UserRow.email,
                    UserRow.attributes,
                    UserRow.disabled,
                )
            )
            for user_id, name, key, email, attributes, disabled in users:
                snapshot.users.append(UserFacts(user_id, name, email, attributes or {}, disabled))
                snapshot.username_keys[key] = user_id
            for client_id, disabled in await session.execute(
                select(ClientRow.client_id, ClientRow.disabled)
            ):
                snapshot.clients.add(client_id)
                if disabled:
                    snapshot.disabled_clients.add(client_id)
            compiled: dict[str, Condition | None] = {}
            rows = await session.execute(
                select(
                    BindingRow.id,
                    BindingRow.member,
                    BindingRow.role,
                    BindingRow.scope,
                    BindingRow.condition,
                )
            )
            for binding_id, member, role, scope, source in rows:
                condition = None
                if source is not None:
                    if source not in compiled:
                        compiled[source] = _compile_stored(binding_id, source)
                    condition = compiled[source]
                    if condition is None:
                        continue  # refused when written; never allow on a broken one
                snapshot.bindings.append(Grant(binding_id, member, role, scope, condition))
        return snapshot

    # -- questions ----------------------------------------------------------------------

    async def permissions_at_root(self, member: str) -> frozenset[str]:
        """What tokens may carry for ``member`` (the one function the OAuth code calls)."""
        index = await self.index()
        kind, _, ident = member.partition(":")
        if kind == "client" and (ident not in index.clients or ident in index.disabled_clients):
            return frozenset()
        if kind == "user":
            user = index.users.get(ident)
            if user is None or user.disabled:
                return frozenset()
        return index.root_permissions(member)

    async def active(self, member: str) -> bool:
        """Whether ``user:<id>`` or ``client:<id>`` exists and is enabled."""
        index = await self.index()
        kind, _, ident = member.partition(":")
        if kind == "client":
            return ident in index.clients and ident not in index.disabled_clients
        user = index.users.get(ident) if kind == "user" else None
        return user is not None and not user.disabled

    async def permissions_anywhere(self, member: str) -> frozenset[str]:
        index = await self.index()
        return index.permissions_anywhere(member) if await self.active(member) else frozenset()

    async def check(
        self,
        subject_type: str,
        subject_id: str,
        permission: str,
        path: str = ROOT,
        *,
        subject: Mapping[str, Any] | None = None,
        resource: Mapping[str, Any] | None = None,
        action: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """May the subject do ``permission`` at ``path``? The four mappings are what
        conditions see, as the caller sent them; the user's stored attributes and e-mail
        are merged into ``subject.properties`` (stored values win, spec §6)."""
        index = await self.index()
        path = path.strip().strip("/") or ROOT  # written like binding scopes are
        member, user = _member(index, subject_type, subject_id)
        if member is None:
            return Decision(False, f"denied: unknown {subject_type} {subject_id!r}")
        if user is not None and user.disabled:
            return Decision(False, f"denied: user {user.username!r} is disabled")
        if member.startswith("client:") and member[7:] in index.disabled_clients:
            return Decision(False, f"denied: client {member[7:]!r} is disabled")

        def data() -> dict[str, Any]:
            seen_subject = dict(subject or {"type": subject_type, "id": subject_id})
            if user is not None:
                properties = dict(seen_subject.get("properties") or {})
                properties.update(user.properties())
                seen_subject["properties"] = properties
            return {
                "subject": seen_subject,
                "resource": dict(resource or {}),
                "action": dict(action or {}),
                "context": dict(context or {}),
            }

        return index.decide(member, permission, path, data)


def _member(
    index: AccessIndex, subject_type: str, subject_id: str
) -> tuple[str | None, UserFacts | None]:
    """``user``/``identity`` by id, else by username; ``client`` by client id."""
    if subject_type in {"user", "identity"}:
        user = index.users.get(subject_id)
        if user is None:
            try:
                found = index.username_keys.get(username_key(subject_id))
            except InvalidInput:
                found = None
            user = index.users.get(found) if found else None
        return (f"user:{user.id}", user) if user else (None, None)
    if subject_type == "client" and subject_id in index.clients:
        return f"client:{subject_id}", None
    return None, None


def _compile_stored(binding_id: str, source: str) -> Condition | None:
    try:
        return compile_condition(source)
    except InvalidInput as exc:
        log.error(
            "binding condition no longer compiles", extra={"binding": binding_id, "error": str(exc)}
        )
        return None
