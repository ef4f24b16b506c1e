"""API keys on ``/account`` (spec §5 self-service): a signed-in user makes a key, sees it
once, lists and revokes their own — and nothing else: CSRF, someone else's key id, a
permission the user lacks or a lifetime not offered change nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.storage.models import ApiKeyRow
from tests.web.conftest import PASSWORD, csrf_token, login

KEY = re.compile(r'data-testid="new-api-key">(agk_[0-9A-Za-z_]+)<')


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, container: Container) -> str:
    """Dana, who holds orders:read at /, signed in; returns her user id."""
    user = await container.users.create("dana", CLI, password=PASSWORD)
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.bind(CLI, "reader", f"user:{user.id}")
    response = await login(client, "dana", PASSWORD)
    assert response.status_code == 303, response.text
    return user.id


async def _count(container: Container) -> int:
    async with container.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(ApiKeyRow)) or 0)


async def _create(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    token = await csrf_token(client, "/account")
    return await client.post("/account/api-keys", data={"csrf_token": token, **form})


async def test_make_see_once_use_and_revoke_a_key(
    client: httpx.AsyncClient, container: Container, signed_in: str
) -> None:
    made = await _create(client, name="laptop script", permissions="orders:read", expires_in="30d")
    assert made.status_code == 201, made.text
    found = KEY.search(made.text)
    assert found, "the new key is shown on the page that answers the form"
    key = found.group(1)
    caller = await container.api_key_auth.authenticate(key, None)
    assert caller is not None and caller.member == f"user:{signed_in}"
    page = await client.get("/account")
    assert "laptop script" in page.text and key not in page.text  # shown once only
    key_id = key[4:16]
    token = await csrf_token(client, "/account")
    gone = await client.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": token})
    assert gone.status_code == 303
    assert "API key revoked" in (await client.get(gone.headers["location"])).text
    assert await container.api_key_auth.authenticate(key, None) is None


async def test_someone_elses_key_cannot_be_revoked_from_here(
    client: httpx.AsyncClient, container: Container, signed_in: str
) -> None:
    other = await container.users.create("erin", CLI)
    await container.access.bind(CLI, "reader", f"user:{other.id}")
    theirs = await container.api_keys.create(CLI, f"user:{other.id}")
    token = await csrf_token(client, "/account")
    refused = await client.post(
        f"/account/api-keys/{theirs.api_key.id}/revoke", data={"csrf_token": token}
    )
    assert refused.status_code == 404
    assert await container.api_key_auth.authenticate(theirs.key, None) is not None
    assert theirs.api_key.id not in (await client.get("/account")).text


@pytest.mark.parametrize(
    "form",
    [
        {"permissions": "orders:write"},  # not held
        {"permissions": "not a permission"},
        {"expires_in": "3650d"},  # not one of the offered lifetimes
        {"name": "x" * 201},
    ],
    ids=str,
)
async def test_refused_forms_make_nothing(
    client: httpx.AsyncClient, container: Container, signed_in: str, form: dict[str, str]
) -> None:
    response = await _create(client, **form)
    assert response.status_code == 400
    assert not KEY.search(response.text)
    assert await _count(container) == 0


async def test_without_the_csrf_token_nothing_happens(
    client: httpx.AsyncClient, container: Container, signed_in: str
) -> None:
    response = await client.post("/account/api-keys", data={"name": "x"})
    assert response.status_code == 403
    assert await _count(container) == 0


async def test_signed_out_visitors_are_sent_to_the_login(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await client.post("/account/api-keys", data={"name": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await _count(container) == 0
