"""OAuth clients on both databases: registration, secrets, rotation, disable, delete."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clients.models import Client
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.errors import InvalidInput, NotFound
from authgate.storage.models import AuditEventRow, BindingRow, ClientRow, GrantRow

CB = "https://app.example.com/callback"
EC_PUBLIC = ECKey.generate_key("P-256").as_dict(private=False)
EC_PRIVATE = ECKey.generate_key("P-256").as_dict(private=True)


async def _count(container: Container, model: type[Any]) -> int:
    async with container.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def _row(container: Container, client_id: str) -> ClientRow:
    async with container.db.transaction() as session:
        row = await session.get(ClientRow, client_id)
    assert row is not None
    return row


async def _tags(container: Container) -> list[str]:
    return [e.tag for e in reversed(await container.audit.recent(100))]


async def _add_grant(container: Container, client_id: str, grant_id: str, **extra: Any) -> None:
    now = container.clock.now()
    async with container.db.transaction() as session:
        session.add(
            GrantRow(
                id=grant_id,
                client_id=client_id,
                user_id=None,
                scope="orders:read",
                audience=None,
                auth_time=None,
                amr=[],
                created_at=now,
                expires_at=now + timedelta(days=30),
                revoked_at=extra.get("revoked_at"),
            )
        )


async def _grants(container: Container) -> dict[str, GrantRow]:
    async with container.db.transaction() as session:
        return {g.id: g for g in (await session.execute(select(GrantRow))).scalars()}


async def test_a_service_client_gets_a_secret_stored_only_as_a_digest(
    container: Container,
) -> None:
    client, secret = await container.clients.create(CLI, name="Billing worker")
    assert secret is not None and secret.startswith("agcs_")
    assert len(secret) >= len("agcs_") + 43  # 32 random bytes, base64url
    assert client.grant_types == ("client_credentials",)
    assert client.auth_method == "client_secret_basic"
    assert not client.public
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", client.client_id)
    row = await _row(container, client.client_id)
    assert row.secret_digest == container.digester.digest(secret)
    assert secret not in json.dumps(client.to_json())
    assert not {"secret", "client_secret", "secret_digest"} & set(client.to_json())
    assert await container.clients.get(client.client_id) == client


async def test_client_ids_are_random(container: Container) -> None:
    ids = {(await container.clients.create(CLI, name=f"c{i}"))[0].client_id for i in range(5)}
    assert len(ids) == 5


async def test_every_field_is_stored_and_read_back(container: Container) -> None:
    client, _ = await container.clients.create(
        CLI,
        name="Orders web",
        grant_types=["authorization_code", "refresh_token"],
        scopes="openid orders:read",
        redirect_uris=[CB, "http://127.0.0.1:8000/cb"],
        post_logout_redirect_uris=["https://app.example.com/"],
        auth_method="client_secret_post",
        audiences=["https://orders.example.com", "https://billing.example.com"],
        first_party=True,
        access_token_ttl="10m",
        refresh_token_ttl=timedelta(days=7),
    )
    again = await container.clients.get(client.client_id)
    assert again == client
    assert client.scopes == ("openid", "orders:read")
    assert client.audiences == ("https://orders.example.com", "https://billing.example.com")
    assert client.access_token_ttl == timedelta(minutes=10)
    assert client.refresh_token_ttl == timedelta(days=7)
    assert client.to_json()["access_token_ttl"] == 600
    row = await _row(container, client.client_id)
    assert row.audience == "https://orders.example.com https://billing.example.com"


async def test_public_and_private_key_jwt_clients_have_no_secret(container: Container) -> None:
    spa, secret = await container.clients.create(CLI, name="SPA", public=True, redirect_uris=[CB])
    assert secret is None
    assert spa.auth_method == "none"
    assert spa.grant_types == ("authorization_code", "refresh_token")
    signer, secret = await container.clients.create(
        CLI, name="Signer", auth_method="private_key_jwt", jwks={"keys": [EC_PUBLIC]}
    )
    assert secret is None
    assert signer.jwks == {"keys": [EC_PUBLIC]}
    remote, secret = await container.clients.create(
        CLI, name="Remote", auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks"
    )
    assert secret is None and remote.jwks_uri == "https://rp.example/jwks"
    for client in (spa, signer, remote):
        assert (await _row(container, client.client_id)).secret_digest is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "client name"),
        ({"redirect_uris": ["http://app.example.com/cb"]}, "http on a host that is not loopback"),
        ({"redirect_uris": [CB + "#x"]}, "must not have a fragment"),
        ({"redirect_uris": ["/cb"]}, "not an absolute URI"),
        ({"redirect_uris": ["myapp:/cb"]}, "private-use scheme with a dot"),
        ({"public": True, "grant_types": ["client_credentials"]}, "cannot use client_credentials"),
        ({"public": True, "redirect_uris": [CB], "auth_method": "client_secret_basic"}, "public"),
        ({"auth_method": "none"}, "only for public clients"),
        ({"auth_method": "tls_client_auth"}, "unknown auth method"),
        ({"grant_types": ["password"]}, "unknown grant type 'password'"),
        ({"grant_types": ["authorization_code"]}, "needs at least one redirect URI"),
        ({"auth_method": "private_key_jwt"}, "needs the client's public keys"),
        (
            {"auth_method": "private_key_jwt", "jwks": {"keys": [EC_PRIVATE]}},
            "PUBLIC keys only",
        ),
        (
            {"auth_method": "private_key_jwt", "jwks_uri": "http://rp.example/jwks"},
            "must be an https URL",
        ),
        (
            {
                "auth_method": "private_key_jwt",
                "jwks": {"keys": [EC_PUBLIC]},
                "jwks_uri": "https://rp.example/jwks",
            },
            "not both",
        ),
        ({"scopes": 'orders:read "quoted"'}, "not a scope token"),
        ({"audiences": ["orders"]}, "not an absolute URI"),
        ({"access_token_ttl": "soon"}, "access token lifetime: 'soon' is not a duration"),
        ({"access_token_ttl": "2h"}, "longer than the limit of 1h"),
        ({"refresh_token_ttl": "0d"}, "greater than zero"),
    ],
    ids=[
        "name",
        "http-remote",
        "fragment",
        "relative",
        "scheme-without-dot",
        "public-client-credentials",
        "public-with-secret",
        "none-for-confidential",
        "unknown-method",
        "unknown-grant",
        "code-without-uri",
        "pkjwt-without-keys",
        "private-jwk",
        "http-jwks-uri",
        "both-key-sources",
        "scope-token",
        "audience",
        "ttl-syntax",
        "ttl-over-key-lifetime",
        "ttl-zero",
    ],
)
async def test_bad_registrations_are_refused_and_write_nothing(
    container: Container, kwargs: dict[str, Any], message: str
) -> None:
    args = {"name": "x", **kwargs}
    events = await _count(container, AuditEventRow)
    with pytest.raises(InvalidInput, match=message):
        await container.clients.create(CLI, **args)
    assert await _count(container, ClientRow) == 0
    assert await _count(container, AuditEventRow) == events


async def test_secret_check(container: Container) -> None:
    client, secret = await container.clients.create(CLI, name="svc")
    assert secret is not None
    found = await container.clients.authenticate_secret(client.client_id, secret)
    assert found == client
    assert await container.clients.authenticate_secret(client.client_id, secret + "x") is None
    assert await container.clients.authenticate_secret(client.client_id, "") is None
    assert await container.clients.authenticate_secret("unknown-client", secret) is None


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("\x00", "agcs_x"),
        ("ok", "\ud800"),
        ("\ud800", "agcs_x"),
        ("x" * 10_000, "agcs_x"),
        ("ok", "s" * 10_000),
        ("ok", "\x00"),
    ],
    ids=["nul-id", "surrogate-secret", "surrogate-id", "huge-id", "huge-secret", "nul-secret"],
)
async def test_secret_check_never_raises_on_bad_input(
    container: Container, client_id: str, secret: str
) -> None:
    assert await container.clients.authenticate_secret(client_id, secret) is None
    assert await container.clients.get(client_id) is None


async def test_clients_without_a_secret_never_pass_a_secret_check(container: Container) -> None:
    spa, _ = await container.clients.create(CLI, name="SPA", public=True, redirect_uris=[CB])
    assert await container.clients.authenticate_secret(spa.client_id, "agcs_anything") is None


async def test_rotation_with_overlap_then_expiry(container: Container, clock: FrozenClock) -> None:
    client, old = await container.clients.create(CLI, name="svc")
    assert old is not None
    new = await container.clients.rotate_secret(client.client_id, CLI, overlap=timedelta(hours=1))
    assert new != old and new.startswith("agcs_")
    assert await container.clients.authenticate_secret(client.client_id, new) is not None
    assert await container.clients.authenticate_secret(client.client_id, old) is not None
    clock.advance(timedelta(minutes=59))
    assert await container.clients.authenticate_secret(client.client_id, old) is not None
    clock.advance(timedelta(minutes=1))
    assert await container.clients.authenticate_secret(client.client_id, old) is None
    assert await container.clients.authenticate_secret(client.client_id, new) is not None
    assert "client:secret-rotated" in await _tags(container)


async def test_rotation_without_overlap_ends_the_old_secret_at_once(
    container: Container,
) -> None:
    client, first = await container.clients.create(CLI, name="svc")
    assert first is not None
    second = await container.clients.rotate_secret(client.client_id, CLI)
    assert await container.clients.authenticate_secret(client.client_id, first) is None
    # A second rotation inside an overlap keeps only the secret it replaces.
    await container.clients.rotate_secret(client.client_id, CLI, overlap=timedelta(hours=1))
    await container.clients.rotate_secret(client.client_id, CLI, overlap=timedelta(hours=1))
    assert await container.clients.authenticate_secret(client.client_id, second) is None


async def test_rotation_refusals(container: Container) -> None:
    spa, _ = await container.clients.create(CLI, name="SPA", public=True, redirect_uris=[CB])
    with pytest.raises(InvalidInput, match="authenticates with none, not a secret"):
        await container.clients.rotate_secret(spa.client_id, CLI)
    signer, _ = await container.clients.create(
        CLI, name="Signer", auth_method="private_key_jwt", jwks={"keys": [EC_PUBLIC]}
    )
    with pytest.raises(InvalidInput, match="private_key_jwt, not a secret"):
        await container.clients.rotate_secret(signer.client_id, CLI)
    svc, _ = await container.clients.create(CLI, name="svc")
    with pytest.raises(InvalidInput, match="overlap"):
        await container.clients.rotate_secret(svc.client_id, CLI, overlap=timedelta(seconds=-1))
    with pytest.raises(NotFound, match="no client with id 'nope'"):
        await container.clients.rotate_secret("nope", CLI)


async def test_a_disabled_client_fails_the_secret_check_until_enabled(
    container: Container,
) -> None:
    client, secret = await container.clients.create(CLI, name="svc")
    assert secret is not None
    disabled = await container.clients.set_disabled(client.client_id, True, CLI)
    assert disabled.disabled
    assert await container.clients.authenticate_secret(client.client_id, secret) is None
    await container.clients.set_disabled(client.client_id, False, CLI)
    assert await container.clients.authenticate_secret(client.client_id, secret) is not None
    tags = await _tags(container)
    assert tags[-2:] == ["client:disabled", "client:enabled"]


async def test_disabling_revokes_the_clients_grants(
    container: Container, clock: FrozenClock
) -> None:
    client, _ = await container.clients.create(CLI, name="svc")
    other, _ = await container.clients.create(CLI, name="other")
    earlier = clock.now() - timedelta(days=1)
    await _add_grant(container, client.client_id, "g-live")
    await _add_grant(container, client.client_id, "g-old", revoked_at=earlier)
    await _add_grant(container, other.client_id, "g-other")
    clock.advance(timedelta(minutes=5))
    await container.clients.set_disabled(client.client_id, True, CLI)
    grants = await _grants(container)
    assert grants["g-live"].revoked_at == clock.now()
    assert grants["g-old"].revoked_at == earlier
    assert grants["g-other"].revoked_at is None
    events = await container.audit.recent(1)
    assert events[0].details == {"grants_revoked": 1}
    # Enabling the client again does not bring the grants back.
    await container.clients.set_disabled(client.client_id, False, CLI)
    assert (await _grants(container))["g-live"].revoked_at is not None


async def test_delete_cascades_to_grants_and_bindings(container: Container) -> None:
    client, _ = await container.clients.create(CLI, name="svc")
    await _add_grant(container, client.client_id, "g1")
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.bind(CLI, "reader", f"client:{client.client_id}")
    await container.clients.delete(client.client_id, CLI)
    assert await container.clients.get(client.client_id) is None
    assert await _count(container, GrantRow) == 0
    assert await _count(container, BindingRow) == 0
    assert await container.engine.permissions_at_root(f"client:{client.client_id}") == frozenset()
    assert (await _tags(container))[-1] == "client:deleted"
    with pytest.raises(NotFound):
        await container.clients.delete(client.client_id, CLI)


@pytest.mark.parametrize(
    "call",
    ["update", "disable", "enable", "delete"],
)
async def test_unknown_client_ids_are_not_found(container: Container, call: str) -> None:
    with pytest.raises(NotFound, match="no client with id 'ghost'"):
        if call == "update":
            await container.clients.update("ghost", CLI, name="x")
        elif call == "delete":
            await container.clients.delete("ghost", CLI)
        else:
            await container.clients.set_disabled("ghost", call == "disable", CLI)


async def test_update_changes_only_the_fields_given(container: Container) -> None:
    client, secret = await container.clients.create(
        CLI, name="web", redirect_uris=[CB], scopes="openid", first_party=True
    )
    assert secret is not None
    updated = await container.clients.update(
        client.client_id, CLI, name="Web app", redirect_uris=[CB, "https://app.example.com/2"]
    )
    assert updated.name == "Web app"
    assert updated.redirect_uris == (CB, "https://app.example.com/2")
    expected: dict[str, Any] = {
        **client.to_json(),
        "name": "Web app",
        "redirect_uris": [CB, "https://app.example.com/2"],
    }
    assert updated.to_json() == expected
    assert await container.clients.authenticate_secret(client.client_id, secret) == updated
    event = (await container.audit.recent(1))[0]
    assert event.tag == "client:updated"
    assert event.details == {"changed": ["name", "redirect_uris"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "not loopback"),
        ({"redirect_uris": []}, "needs at least one redirect URI"),
        ({"public": True}, "is confidential; that cannot change"),
        ({"client_secret": "x"}, "no changeable field 'client_secret'"),
        ({"auth_method": "private_key_jwt"}, "needs the client's public keys"),
        ({"access_token_ttl": "1d"}, "longer than the limit"),
    ],
    ids=["bad-uri", "no-uri-left", "public", "unknown-field", "pkjwt-without-keys", "ttl"],
)
async def test_bad_updates_change_nothing(
    container: Container, changes: dict[str, Any], message: str
) -> None:
    client, _ = await container.clients.create(CLI, name="web", redirect_uris=[CB])
    with pytest.raises(InvalidInput, match=message):
        await container.clients.update(client.client_id, CLI, **changes)
    assert await container.clients.get(client.client_id) == client


async def test_switching_to_private_key_jwt_drops_the_secret(container: Container) -> None:
    client, secret = await container.clients.create(CLI, name="svc")
    assert secret is not None
    updated = await container.clients.update(
        client.client_id, CLI, auth_method="private_key_jwt", jwks={"keys": [EC_PUBLIC]}
    )
    assert updated.auth_method == "private_key_jwt"
    assert await container.clients.authenticate_secret(client.client_id, secret) is None
    # Back to a secret: the keys go, and a secret comes only from a rotation.
    back = await container.clients.update(client.client_id, CLI, auth_method="client_secret_post")
    assert back.jwks is None
    assert await container.clients.authenticate_secret(client.client_id, secret) is None
    fresh = await container.clients.rotate_secret(client.client_id, CLI)
    assert await container.clients.authenticate_secret(client.client_id, fresh) is not None


async def test_list_and_audit_never_hold_secrets(container: Container) -> None:
    _, first = await container.clients.create(CLI, name="b-svc")
    _, second = await container.clients.create(CLI, name="a-svc")
    listed = await container.clients.list()
    assert [c.name for c in listed] == ["a-svc", "b-svc"]
    assert all(isinstance(c, Client) for c in listed)
    dumped = json.dumps([e.details for e in await container.audit.recent(100)])
    assert first is not None and second is not None
    assert first not in dumped and second not in dumped
    assert (await container.audit.verify()).ok
