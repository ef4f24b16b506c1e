"""An in-process app (httpx over ASGI) on the ``container`` fixture's database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from authgate.container import Container
from authgate.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
PASSWORD = "correct-horse-battery"


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def csrf_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    response = await client.get(path)
    match = CSRF.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str, *, next_url: str | None = None
) -> httpx.Response:
    token = await csrf_token(client)
    form = {"username": username, "password": password, "csrf_token": token}
    if next_url is not None:
        form["next"] = next_url
    return await client.post("/login", data=form)
