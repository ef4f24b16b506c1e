"""The in-memory decision index: one immutable snapshot of roles, groups, bindings, users
and clients, built from the database and asked "may this member do this here?".

A decision looks up the subject and its groups, and for each the bindings at the
resource's scope and every ancestor scope (dictionary lookups, not a scan), then whether
the bound role — with everything it inherits, resolved once at build time — grants the
permission. Unconditional bindings are tried first; a condition runs only when its
binding would otherwise grant the permission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authgate.rbac.conditions import Condition

ROOT = "/"
_MAX_PATHS = 100_000


@dataclass(frozen=True, slots=True)
class Grant:
    """One binding as the index holds it: *member* has *role* on *scope* (if *condition*)."""

    binding_id: str
    member: str
    role: str
    scope: str
    condition: Condition | None = None

    def describe(self) -> str:
        text = f"binding {self.binding_id}: {self.member} has role {self.role!r} on {self.scope}"
        return text + (f" when {self.condition.source}" if self.condition else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.binding_id,
            "member": self.member,
            "role": self.role,
            "scope": self.scope,
            "condition": self.condition.source if self.condition else None,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    grant: Grant | None = None
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"decision": self.allowed, "reason": self.reason}
        if self.grant is not None:
            body["binding"] = self.grant.to_json()
        if self.errors:
            body["errors"] = list(self.errors)
        return body


@dataclass(frozen=True, slots=True)
class UserFacts:
    """What decisions need of a user: the member key, and what conditions read."""

    id: str
    username: str
    email: str | None
    attributes: Mapping[str, Any]
    disabled: bool

    def properties(self) -> dict[str, Any]:
        """Stored attributes and e-mail, as conditions see them (spec §6)."""
        props = dict(self.attributes)
        if self.email is not None:
            props["email"] = self.email
        return props


@dataclass
class Snapshot:
    """The rows an index is built from (read in one transaction)."""

    roles: dict[str, Sequence[str]] = field(default_factory=dict)
    parents: list[tuple[str, str]] = field(default_factory=list)
    bindings: list[Grant] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (group, user_id)
    users: list[UserFacts] = field(default_factory=list)
    username_keys: dict[str, str] = field(default_factory=dict)  # username key → user id
    disabled_clients: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)


def effective_permissions(
    roles: Mapping[str, Sequence[str]], parents: Iterable[tuple[str, str]]
) -> dict[str, frozenset[str]]:
    """Each role's permissions with everything it inherits (roles form a DAG). Iterative,
    so a chain of any depth resolves without touching the interpreter's recursion limit."""
    inherits: dict[str, list[str]] = {}
    for role, parent in parents:
        inherits.setdefault(role, []).append(parent)
    resolved: dict[str, frozenset[str]] = {}
    for start in roles:
        if start in resolved:
            continue
        stack = [start]
        on_stack = {start}
        while stack:
            name = stack[-1]
            pending = [p for p in inherits.get(name, ()) if p not in resolved and p not in on_stack]
            if pending:
                stack.extend(pending)
                on_stack.update(pending)
                continue
            held = set(roles.get(name, ()))
            for parent in inherits.get(name, ()):
                held |= resolved.get(parent, frozenset())  # a cycle cannot be stored
            resolved[name] = frozenset(held)
            stack.pop()
            on_stack.discard(name)
    return resolved


def find_cycle(parents: Iterable[tuple[str, str]]) -> list[str] | None:
    """A cycle in the inheritance graph, as the list of roles along it, or None."""
    graph: dict[str, list[str]] = {}
    for role, parent in parents:
        graph.setdefault(role, []).append(parent)
    done: set[str] = set()
    for root in list(graph):
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        children = [iter(graph.get(root, ()))]
        while children:
            nxt = next(children[-1], None)
            if nxt is None:
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                children.pop()
                continue
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                children.append(iter(graph.get(nxt, ())))
    return None


def ancestors(path: str) -> tuple[str, ...]:
    """``org:a/project:b`` → (``org:a/project:b``, ``org:a``, ``/``): the scopes whose
    bindings apply to ``path``, most specific first. Segments are whole: ``org:acme``
    does not cover ``org:acme2``."""
    if path == ROOT:
        return (ROOT,)
    parts = path.split("/")
    found = ["/".join(parts[: n + 1]) for n in range(len(parts) - 1, -1, -1)]
    found.append(ROOT)
    return tuple(found)


class AccessIndex:
    def __init__(self, snapshot: Snapshot) -> None:
        self.permissions = effective_permissions(snapshot.roles, snapshot.parents)
        self.parents = list(snapshot.parents)
        self.users = {user.id: user for user in snapshot.users}
        self.username_keys = dict(snapshot.username_keys)
        self.clients = set(snapshot.clients)
        self.disabled_clients = set(snapshot.disabled_clients)
        self._groups: dict[str, tuple[str, ...]] = {}
        grouped: dict[str, list[str]] = {}
        for group, user_id in snapshot.members:
            grouped.setdefault(f"user:{user_id}", []).append(f"group:{group}")
        self._groups = {member: tuple(sorted(groups)) for member, groups in grouped.items()}
        #: The member followed by its groups: whose bindings a decision looks at.
        self._holders = {member: (member, *groups) for member, groups in self._groups.items()}
        at: dict[str, dict[str, list[Grant]]] = {}
        for grant in snapshot.bindings:
            if grant.role in self.permissions:
                at.setdefault(grant.member, {}).setdefault(grant.scope, []).append(grant)
        # Unconditional bindings first: they decide without running any CEL.
        self._at = {
            member: {
                scope: tuple(sorted(grants, key=lambda g: (g.condition is not None, g.binding_id)))
                for scope, grants in scopes.items()
            }
            for member, scopes in at.items()
        }
        self._paths: dict[str, tuple[str, ...]] = {}
        self.binding_count = len(snapshot.bindings)

    def groups_of(self, member: str) -> tuple[str, ...]:
        return self._groups.get(member, ())

    def _scopes(self, path: str) -> tuple[str, ...]:
        found = self._paths.get(path)
        if found is None:
            if len(self._paths) >= _MAX_PATHS:
                self._paths.clear()
            found = self._paths[path] = ancestors(path)
        return found

    def decide(
        self,
        member: str,
        permission: str,
        path: str = ROOT,
        data: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Decision:
        """Whether ``member`` (``user:<id>`` or ``client:<id>``, already known to exist and
        be enabled) holds ``permission`` at ``path``. ``data`` builds what conditions see;
        it is called only if a condition must run.

        Every unconditional binding that applies (the member's and its groups', at the
        path and its ancestors) is tried before any condition runs; conditions then run
        nearest scope first."""
        resource, sep, _ = permission.partition(":")
        wildcard = resource + ":*" if sep else permission
        scopes = self._scopes(path)
        perms = self.permissions
        conditional: list[Grant] = []
        holders = self._holders.get(member) or (member,)
        for holder in holders:
            at = self._at.get(holder)
            if at is None:
                continue
            for scope in scopes:
                grants = at.get(scope)
                if grants is None:
                    continue
                for grant in grants:
                    held = perms[grant.role]
                    if permission not in held and wildcard not in held and "*" not in held:
                        continue
                    if grant.condition is None:
                        return Decision(True, "allowed by " + grant.describe(), grant)
                    conditional.append(grant)
        if not conditional:
            return Decision(
                False,
                f"denied: no binding of {member} or its groups grants {permission} on {path}",
            )
        seen = dict(data()) if data is not None else {}
        errors: list[str] = []
        depth = {scope: n for n, scope in enumerate(scopes)}
        for grant in sorted(conditional, key=lambda g: depth[g.scope]):
            assert grant.condition is not None
            outcome = grant.condition.evaluate(seen)
            if outcome.holds:
                return Decision(True, "allowed by " + grant.describe(), grant)
            if outcome.error:
                errors.append(f"{grant.describe()}: {outcome.error}")
        if errors:
            return Decision(
                False,
                f"denied: no binding grants {permission} on {path}; a condition that "
                "could have allowed it failed to evaluate: " + "; ".join(errors),
                errors=tuple(errors),
            )
        return Decision(
            False,
            f"denied: no binding of {member} or its groups grants {permission} on {path}",
        )

    def permissions_anywhere(self, member: str) -> frozenset[str]:
        """What ``member`` holds at some scope through unconditional bindings: the most an
        API key it owns may list (spec §5)."""
        held: set[str] = set()
        for holder in (member, *self._groups.get(member, ())):
            for grants in self._at.get(holder, {}).values():
                for grant in grants:
                    if grant.condition is None:
                        held |= self.permissions[grant.role]
        return frozenset(held)

    def root_permissions(self, member: str) -> frozenset[str]:
        """What ``member`` holds at ``/`` through unconditional bindings (its own and its
        groups'), with inheritance: what tokens may carry (spec §1)."""
        held: set[str] = set()
        for holder in (member, *self._groups.get(member, ())):
            for grant in self._at.get(holder, {}).get(ROOT, ()):
                if grant.condition is None:
                    held |= self.permissions[grant.role]
        return frozenset(held)
