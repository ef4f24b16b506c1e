"""API keys through the services, on both databases (spec §5, §7): the format and its
checksum, digests only at rest, a subset of the owner's permissions checked at creation
and at every use, expiry, allowed networks, revocation, the owner's state, and
``last_used_at`` without a write per request."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from authgate.apikeys import format as key_format
from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.errors import InvalidInput, NotFound
from authgate.storage.models import ApiKeyRow, AuditEventRow, RevocationEventRow
from tests.conftest import make_settings


@pytest.fixture
async def alice(container: Container) -> str:
    """A user holding orders:read and orders:write at /, and projects:edit at org:acme."""
    user = await container.users.create("alice", CLI)
    await container.access.create_role(CLI, "orders-clerk", ["orders:read", "orders:write"])
    await container.access.create_role(CLI, "editor", ["projects:edit"])
    await container.access.bind(CLI, "orders-clerk", f"user:{user.id}")
    await container.access.bind(CLI, "editor", f"user:{user.id}", "org:acme")
    return f"user:{user.id}"


async def test_a_key_has_the_prefix_an_id_128_bits_and_a_checksum(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice, permissions=["orders:read"])
    key = made.key
    assert key.startswith("agk_") and len(key) == key_format.KEY_LENGTH
    assert key[4:16] == made.api_key.id
    # 22 base62 characters of secret: 22 * log2(62) ≈ 131 bits (spec §5: at least 128).
    assert key_format.SECRET_LENGTH * 5.95 >= 128
    assert key_format.parse(key) is not None
    other = await container.api_keys.create(CLI, alice, permissions=["orders:read"])
    assert other.key != key and other.api_key.id != made.api_key.id


async def test_only_a_keyed_digest_is_stored(container: Container, alice: str) -> None:
    made = await container.api_keys.create(CLI, alice)
    async with container.db.transaction() as session:
        row = await session.get(ApiKeyRow, made.api_key.id)
        dumped = [str(v) for v in (await session.execute(text("SELECT * FROM api_keys"))).one()]
        audit = (await session.execute(select(AuditEventRow.details))).scalars().all()
    assert row is not None and row.digest == container.digester.digest(made.key)
    secret_part = made.key[17:]
    assert not any(secret_part in value for value in dumped)
    assert not any(secret_part in str(details) for details in audit)
    assert "key" not in made.api_key.to_json()


async def test_a_typo_is_refused_by_the_checksum_without_a_database_lookup(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice)
    position = 20
    swapped = "B" if made.key[position] != "B" else "C"
    typo = made.key[:position] + swapped + made.key[position + 1 :]
    assert key_format.parse(typo) is None
    calls = 0
    original = container.api_keys.lookup

    async def counting(key_id: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await original(key_id)

    container.api_keys.lookup = counting  # type: ignore[method-assign]
    assert await container.api_key_auth.authenticate(typo, None) is None
    assert await container.api_key_auth.authenticate(made.key[:-1], None) is None
    assert calls == 0
    assert await container.api_key_auth.authenticate(made.key, None) is not None
    assert calls == 1


async def test_a_right_checksum_on_a_wrong_secret_is_refused(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice)
    body = made.key[: -key_format.CHECKSUM_LENGTH]
    forged = body[:-1] + ("x" if body[-1] != "x" else "y")
    forged += key_format.checksum(forged)
    assert key_format.parse(forged) is not None
    assert await container.api_key_auth.authenticate(forged, None) is None


async def test_a_key_carries_its_list_cut_to_what_the_owner_holds(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice, permissions=["orders:read"])
    caller = await container.api_key_auth.authenticate(made.key, None)
    assert caller is not None
    assert (caller.subject_type, caller.kind, caller.key_id) == ("user", "apikey", made.api_key.id)
    assert caller.delegates("orders:read")
    assert not caller.delegates("orders:write")  # the owner holds it; the key does not
    assert caller.scope_text == "orders:read"


async def test_a_key_may_list_only_what_the_owner_holds(container: Container, alice: str) -> None:
    with pytest.raises(InvalidInput, match="does not hold billing:read"):
        await container.api_keys.create(CLI, alice, permissions=["orders:read", "billing:read"])
    with pytest.raises(InvalidInput, match="does not hold orders:\\*"):
        await container.api_keys.create(CLI, alice, permissions=["orders:*"])
    # a permission held only at a scope may be listed: it is usable there
    await container.api_keys.create(CLI, alice, permissions=["projects:edit"])
    async with container.db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(ApiKeyRow))
    assert count == 1


async def test_losing_a_permission_takes_it_from_the_key_at_once(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice, permissions=["orders:read"])
    await container.access.update_role(CLI, "orders-clerk", permissions=["orders:write"])
    caller = await container.api_key_auth.authenticate(made.key, None)
    assert caller is not None and not caller.delegates("orders:read")
    unlisted = await container.api_keys.create(CLI, alice)
    caller = await container.api_key_auth.authenticate(unlisted.key, None)
    assert caller is not None and caller.delegates("orders:write")
    assert not caller.delegates("orders:read")


async def test_an_expired_key_is_refused(
    container: Container, alice: str, clock: FrozenClock
) -> None:
    made = await container.api_keys.create(CLI, alice, expires_in=timedelta(hours=1))
    assert await container.api_key_auth.authenticate(made.key, None) is not None
    clock.advance(timedelta(hours=1))
    assert await container.api_key_auth.authenticate(made.key, None) is None
    with pytest.raises(InvalidInput, match="lifetime"):
        await container.api_keys.create(CLI, alice, expires_in=timedelta(0))


async def test_a_key_is_accepted_only_from_its_networks(container: Container, alice: str) -> None:
    made = await container.api_keys.create(
        CLI, alice, allowed_networks=["203.0.113.0/24", "2001:db8::/32"]
    )
    auth = container.api_key_auth
    assert await auth.authenticate(made.key, "203.0.113.9") is not None
    assert await auth.authenticate(made.key, "::ffff:203.0.113.9") is not None
    assert await auth.authenticate(made.key, "2001:db8::1") is not None
    assert await auth.authenticate(made.key, "198.51.100.1") is None
    assert await auth.authenticate(made.key, None) is None
    assert await auth.authenticate(made.key, "not-an-address") is None
    with pytest.raises(InvalidInput, match="CIDR"):
        await container.api_keys.create(CLI, alice, allowed_networks=["10.0.0.0/33"])


async def test_revoking_ends_the_key_at_once_and_reaches_the_feed(
    container: Container, alice: str
) -> None:
    made = await container.api_keys.create(CLI, alice)
    assert await container.api_key_auth.authenticate(made.key, None) is not None
    revoked = await container.api_keys.revoke(CLI, made.api_key.id)
    assert revoked.revoked_at is not None
    assert await container.api_key_auth.authenticate(made.key, None) is None
    again = await container.api_keys.revoke(CLI, made.api_key.id)  # idempotent
    assert again.revoked_at == revoked.revoked_at
    async with container.db.transaction() as session:
        events = (
            await session.execute(
                select(RevocationEventRow.kind, RevocationEventRow.value).where(
                    RevocationEventRow.kind == "apikey"
                )
            )
        ).all()
    assert events == [("apikey", made.api_key.id)]
    with pytest.raises(NotFound):
        await container.api_keys.revoke(CLI, "nope")


async def test_disabling_the_owner_disables_its_keys(container: Container, alice: str) -> None:
    made = await container.api_keys.create(CLI, alice)
    await container.users.set_disabled("alice", True, CLI)
    assert await container.api_key_auth.authenticate(made.key, None) is None
    await container.users.set_disabled("alice", False, CLI)
    assert await container.api_key_auth.authenticate(made.key, None) is not None
    with pytest.raises(InvalidInput, match="disabled"):
        await container.users.set_disabled("alice", True, CLI)
        await container.api_keys.create(CLI, alice)


async def test_a_client_owns_keys_and_disabling_it_ends_them(container: Container) -> None:
    client, _ = await container.clients.create(
        CLI, name="batch", grant_types=["client_credentials"]
    )
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.bind(CLI, "reader", f"client:{client.client_id}")
    made = await container.api_keys.create(CLI, f"client:{client.client_id}")
    caller = await container.api_key_auth.authenticate(made.key, None)
    assert caller is not None and caller.client_id == client.client_id
    assert caller.delegates("orders:read")
    await container.clients.set_disabled(client.client_id, True, CLI)
    assert await container.api_key_auth.authenticate(made.key, None) is None


async def test_bad_input_is_refused_and_nothing_is_written(
    container: Container, alice: str
) -> None:
    for owner, kwargs in [
        ("someone", {}),
        ("user:nobody", {}),
        (alice, {"permissions": ["not a permission"]}),
        (alice, {"name": "x" * 201}),
        (alice, {"expires_in": timedelta(days=4000)}),
    ]:
        with pytest.raises(InvalidInput):
            await container.api_keys.create(CLI, owner, **kwargs)
    async with container.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKeyRow)) == 0


async def test_last_used_is_kept_in_memory_and_written_in_one_flush(
    container: Container, alice: str, clock: FrozenClock
) -> None:
    made = await container.api_keys.create(CLI, alice)
    for _ in range(50):
        assert await container.api_key_auth.authenticate(made.key, None) is not None
    assert (await container.api_keys.get(made.api_key.id)).last_used_at is None
    assert await container.api_key_auth.flush_usage() == 1
    assert (await container.api_keys.get(made.api_key.id)).last_used_at == clock.now()
    assert await container.api_key_auth.flush_usage() == 0


async def test_a_revocation_in_another_process_is_seen_within_the_poll(
    database_url: str, container: Container, alice: str
) -> None:
    """Spec §7: a key revoked elsewhere (the CLI, another replica) stops working here
    within the 1 s revocation poll."""
    made = await container.api_keys.create(CLI, alice)
    other = Container.build(
        make_settings(container.settings.data_dir, database_url, rate_limits={"enabled": True})
    )
    try:
        assert await other.api_key_auth.authenticate(made.key, None) is not None
        await container.api_keys.revoke(CLI, made.api_key.id)
        started = time.monotonic()
        while await other.api_key_auth.authenticate(made.key, None) is not None:
            assert time.monotonic() - started < 2.5, "the other process still accepts the key"
            await _sleep(0.05)
    finally:
        await other.close()


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
