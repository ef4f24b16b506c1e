"""The audit hash chain finds modified, deleted and truncated events (both databases);
every event carries the scope of its object, covered by the chain."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditTag
from authgate.audit.log import AuditFilter, event_json
from authgate.container import Container
from authgate.errors import AuthenticationFailed, Conflict
from authgate.storage.models import AuditEventRow, AuditHeadRow


async def _events(container: Container) -> list[AuditEventRow]:
    async with container.db.transaction() as session:
        return list(
            (await session.execute(select(AuditEventRow).order_by(AuditEventRow.id))).scalars()
        )


async def test_events_are_recorded_with_context(container: Container) -> None:
    await container.users.create("alice", CLI)
    events = await _events(container)
    assert [e.tag for e in events][-1] == AuditTag.USER_CREATED
    assert events[-1].actor == "cli"
    assert events[-1].subject is not None and events[-1].subject.startswith("user:")
    result = await container.audit.verify()
    assert result.ok, result.problems
    assert result.events == len(events)


async def test_modified_row_is_named(container: Container) -> None:
    for name in ("a1", "a2", "a3"):
        await container.users.create(name, CLI)
    target = (await _events(container))[-2]
    async with container.db.transaction() as session:
        await session.execute(
            update(AuditEventRow).where(AuditEventRow.id == target.id).values(actor="someone-else")
        )
    result = await container.audit.verify()
    assert not result.ok
    assert any(f"event #{target.id}" in p and "modified" in p for p in result.problems)


async def test_deleted_middle_row_is_found(container: Container) -> None:
    for name in ("b1", "b2", "b3"):
        await container.users.create(name, CLI)
    events = await _events(container)
    victim, after = events[-2], events[-1]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == victim.id))
    result = await container.audit.verify()
    assert not result.ok
    assert any(f"event #{after.id}" in p and "deleted" in p for p in result.problems)


async def test_deleted_tail_is_found(container: Container) -> None:
    for name in ("c1", "c2"):
        await container.users.create(name, CLI)
    last = (await _events(container))[-1]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == last.id))
    result = await container.audit.verify()
    assert not result.ok
    assert any("at the end were deleted" in p for p in result.problems)


async def test_failed_write_leaves_no_event(container: Container) -> None:
    await container.users.create("dup", CLI)
    before = len(await _events(container))
    with pytest.raises(Conflict):
        await container.users.create("DUP", CLI)
    assert len(await _events(container)) == before
    assert (await container.audit.verify()).ok


async def test_rewound_chain_head_is_found(container: Container) -> None:
    """Deleting the newest events and pointing the head at the new last event (whose
    hash is in the table) is caught: the head carries a MAC only the key can make."""
    for name in ("d1", "d2", "d3"):
        await container.users.create(name, CLI)
    events = await _events(container)
    keep = events[-2]
    async with container.db.transaction() as session:
        await session.execute(delete(AuditEventRow).where(AuditEventRow.id == events[-1].id))
        await session.execute(update(AuditHeadRow).values(last_id=keep.id, last_hash=keep.hash))
    result = await container.audit.verify()
    assert not result.ok
    assert any("chain head was altered" in p for p in result.problems)


async def _scopes(container: Container) -> dict[tuple[str, str | None], str | None]:
    """(tag, subject) → scope, as the export shows it."""
    return {(e["tag"], e["subject"]): e["scope"] for e in map(event_json, await _events(container))}


async def test_each_event_carries_the_scope_of_its_object(container: Container) -> None:
    user = await container.users.create("ann", CLI, scope="org:acme")
    client, _ = await container.clients.create(
        CLI, name="acme app", grant_types=["client_credentials"], scope="org:acme/team:a"
    )
    await container.access.create_role(CLI, "viewer", ["orders:read"])
    binding = await container.access.bind(CLI, "viewer", "user:ann", "org:acme/project:1")
    await container.users.update("ann", CLI, email="ann@example.com")
    await container.clients.set_disabled(client.client_id, True, CLI)
    await container.access.unbind(CLI, binding.id)
    scopes = await _scopes(container)
    assert scopes[(AuditTag.USER_CREATED, f"user:{user.id}")] == "org:acme"
    assert scopes[(AuditTag.USER_UPDATED, f"user:{user.id}")] == "org:acme"
    assert scopes[(AuditTag.CLIENT_CREATED, f"client:{client.client_id}")] == "org:acme/team:a"
    assert scopes[(AuditTag.CLIENT_DISABLED, f"client:{client.client_id}")] == "org:acme/team:a"
    assert scopes[(AuditTag.BINDING_CREATED, f"binding:{binding.id}")] == "org:acme/project:1"
    assert scopes[(AuditTag.BINDING_DELETED, f"binding:{binding.id}")] == "org:acme/project:1"
    assert scopes[(AuditTag.ROLE_CREATED, "role:viewer")] == "/"
    assert all(e.scope is not None for e in await _events(container))
    assert (await container.audit.verify()).ok


async def test_login_events_carry_the_users_scope_or_the_root(container: Container) -> None:
    user = await container.users.create("bea", CLI, password="a long passphrase 42", scope="org:b")
    for name in ("bea", "nobody-by-that-name"):
        with pytest.raises(AuthenticationFailed):
            await container.login.check_password(name, "wrong password", CLI)
    await container.login.check_password("bea", "a long passphrase 42", CLI)
    failures = [e for e in await _events(container) if e.tag == AuditTag.LOGIN_FAILURE]
    assert [(e.subject, e.scope) for e in failures] == [(f"user:{user.id}", "org:b"), (None, "/")]
    success = [e for e in await _events(container) if e.tag == AuditTag.LOGIN_SUCCESS]
    assert [e.scope for e in success] == ["org:b"]


async def test_an_api_key_event_carries_its_owners_scope(container: Container) -> None:
    user = await container.users.create("cid", CLI, scope="org:c/team:x")
    created = await container.api_keys.create(CLI, f"user:{user.id}", name="ci")
    await container.api_keys.revoke(CLI, created.api_key.id)
    scopes = await _scopes(container)
    assert scopes[(AuditTag.APIKEY_CREATED, f"apikey:{created.api_key.id}")] == "org:c/team:x"
    assert scopes[(AuditTag.APIKEY_REVOKED, f"apikey:{created.api_key.id}")] == "org:c/team:x"


@pytest.mark.parametrize("stored", ["/", None, "org:acme/team:b"], ids=["root", "null", "moved"])
async def test_a_changed_scope_is_named(container: Container, stored: str | None) -> None:
    for name in ("e1", "e2"):
        await container.users.create(name, CLI, scope="org:acme/team:a")
    target = (await _events(container))[-2]
    async with container.db.transaction() as session:
        await session.execute(
            update(AuditEventRow).where(AuditEventRow.id == target.id).values(scope=stored)
        )
    result = await container.audit.verify()
    assert not result.ok
    assert [p for p in result.problems if "modified" in p] == [
        f"event #{target.id} (user:created) was modified after it was written"
    ]


async def test_events_written_before_scopes_still_verify(container: Container) -> None:
    """Events from before migration 0009 have no scope; their hashes never covered one."""
    await container.users.create("f1", CLI, scope="org:acme")
    # As the log wrote events before scopes: the hashed body has no "scope" at all.
    await container.audit.record(
        AuditTag.USER_UPDATED,
        CLI,
        scope=None,  # type: ignore[arg-type]
        subject="user:old",
    )
    await container.users.create("f2", CLI, scope="org:acme")
    old = [e for e in await _events(container) if e.subject == "user:old"]
    assert [e.scope for e in old] == [None] and event_json(old[0])["scope"] is None
    result = await container.audit.verify()
    assert result.ok, result.problems
    # Only a reader of everything sees it: it is at no narrower scope.
    everything = await container.audit.query(AuditFilter(scope="/"))
    assert "user:old" in {e.subject for e in everything}
    acme = await container.audit.query(AuditFilter(scope="org:acme"))
    assert "user:old" not in {e.subject for e in acme}
    async with container.db.transaction() as session:
        await session.execute(
            update(AuditEventRow).where(AuditEventRow.id == old[0].id).values(scope="/")
        )
    assert not (await container.audit.verify()).ok, "giving an old event a scope is tampering"


async def test_the_scope_filter_takes_whole_segments(container: Container) -> None:
    for name, scope in (
        ("g1", "org:acme"),
        ("g2", "org:acme/team:a"),
        ("g3", "org:acme-two"),
        ("g4", "/"),
        ("g5", "org:abc/team:a"),
    ):
        await container.users.create(name, CLI, scope=scope)

    async def names(scope: str) -> list[str]:
        where = AuditFilter(scope=scope, tags=[AuditTag.USER_CREATED])
        return [e.details["username"] for e in await container.audit.query(where)]

    assert await names("org:acme") == ["g1", "g2"]
    assert await names("org:acme/team:a") == ["g2"]
    assert await names("org:acme-two") == ["g3"]
    assert await names("org:a_c") == [], "_ is no wildcard"
    assert await names("/") == ["g1", "g2", "g3", "g4", "g5"]


async def test_the_log_reads_backwards_a_page_at_a_time(container: Container) -> None:
    """The console's newest-first pages: each page holds the matching events just before
    the last one shown, and paging through finds each exactly once."""
    for n in range(5):
        await container.users.create(f"reader-{n}", CLI, scope="org:acme")
        await container.apis.create(CLI, audience=f"https://api-{n}.example", name=f"API {n}")
    where = AuditFilter(tags=(AuditTag.USER_CREATED,), scope="org:acme")
    oldest_first = [row.id async for row in container.audit.export(where)]
    pages, before = [], None
    while page := await container.audit.older(where, before=before, limit=2):
        pages.append([row.id for row in page])
        before = page[-1].id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == list(reversed(oldest_first))
