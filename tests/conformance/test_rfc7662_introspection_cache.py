"""RFC 7662 §2.2 says a revoked token is not active. Introspection answers "is this jti
deny-listed, is this grant revoked, is this user active" from memory; these tests hold
the cache to that rule: a revocation made by this process is seen by the very next
call, one made by another process (a replica, the CLI) within the poll interval
(``ACCESS_POLL_SECONDS``, 1 s), never later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.settings import ACCESS_POLL_SECONDS
from authgate.web.app import create_app
from tests.conformance.conftest import (
    REVOKE,
    WEB_REDIRECT,
    Browser,
    Registered,
    client_credentials,
    code_flow,
    introspect,
    refresh,
    token_request,
)
from tests.conftest import make_settings

#: How long a test waits for another process's revocation: the bound plus slack.
BOUND = ACCESS_POLL_SECONDS + 1.0


@pytest.fixture(autouse=True)
def _production_poll_interval(
    monkeypatch: pytest.MonkeyPatch, _model_changes_seen_at_once: None
) -> None:
    """Undo the conformance default of re-reading on every request: these tests are about
    the cache, so they run with the interval production uses."""
    monkeypatch.setattr("authgate.container.ACCESS_POLL_SECONDS", ACCESS_POLL_SECONDS)


@pytest.fixture
async def replica(container: Container, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """A second server process over the same database, with its own caches."""
    settings = make_settings(
        container.settings.data_dir,
        container.settings.effective_database_url,
        rate_limits={"enabled": False},
    )
    other = Container.build(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(settings, other), client=("198.51.100.21", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await other.close()


async def _inactive_within(
    http: httpx.AsyncClient, caller: Registered, token: str, seconds: float
) -> float:
    """Seconds until ``token`` introspects inactive; fails after ``seconds``."""
    started = time.monotonic()
    while (await introspect(http, caller, token))["active"]:
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"still active {elapsed:.2f} s after the revocation"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_revoked_access_token_is_inactive_at_once_on_the_revoking_process(
    http: httpx.AsyncClient, service: Registered, resource_server: Registered
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    assert (await introspect(http, resource_server, token))["active"] is True  # now cached
    response = await token_request(http, {"token": token}, service, path=REVOKE)
    assert response.status_code == 200
    assert (await introspect(http, resource_server, token)) == {"active": False}


async def test_revocation_on_another_replica_is_seen_within_the_poll_interval(
    http: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    service: Registered,
    resource_server: Registered,
) -> None:
    token = (await client_credentials(http, service))["access_token"]
    assert (await introspect(replica, resource_server, token))["active"] is True
    response = await token_request(http, {"token": token}, service, path=REVOKE)
    assert response.status_code == 200
    await _inactive_within(replica, resource_server, token, BOUND)


async def test_refresh_reuse_ends_the_familys_access_tokens_at_once(
    browser: Browser, webapp: Registered, resource_server: Registered, alice: str
) -> None:
    """RFC 9700 §4.14.2: reuse revokes the family; the access token issued with the
    family stops introspecting active on the next call, cached or not."""
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "openid offline_access orders:read")
    access = tokens["access_token"]
    assert (await introspect(browser.http, resource_server, access))["active"] is True
    assert (await refresh(browser.http, webapp, tokens["refresh_token"])).status_code == 200
    reused = await refresh(browser.http, webapp, tokens["refresh_token"])
    assert reused.status_code == 400
    assert (await introspect(browser.http, resource_server, access)) == {"active": False}


async def test_disabling_the_user_elsewhere_ends_their_tokens_within_the_bound(
    browser: Browser,
    webapp: Registered,
    resource_server: Registered,
    alice: str,
    container: Container,
    replica: httpx.AsyncClient,
) -> None:
    """Spec §7: disabling a user ends what they hold — here through the CLI's service,
    a process other than the one introspecting."""
    access = (await code_flow(browser, webapp, WEB_REDIRECT))["access_token"]
    assert (await introspect(replica, resource_server, access))["active"] is True
    await container.users.set_disabled("alice", True, CLI)
    await _inactive_within(replica, resource_server, access, BOUND)
