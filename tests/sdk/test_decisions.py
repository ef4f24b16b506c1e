"""``DecisionClient`` against a real ``authgate serve``'s AuthZEN Access Evaluation API
(OpenID AuthZEN Authorization API 1.0 §6): a client-credentials token for AuthGate's own
API with ``authgate:evaluate``, reused; decisions cached for a short TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from authgate_sdk import DecisionClient, IssuerUnavailable
from authgate_sdk.decisions import entity

from tests.sdk.live import Live


@pytest.fixture
async def decisions(live_sqlite: Live) -> AsyncIterator[DecisionClient]:
    client = DecisionClient(live_sqlite.url, *live_sqlite.pep.basic)
    yield client
    await client.aclose()


async def test_resource_level_decisions(decisions: DecisionClient) -> None:
    """dora is a doc-editor on ``doc:42`` only: the binding's scope decides."""
    assert await decisions.can("user:u-dora", "edit", "doc:42")
    assert await decisions.can({"type": "user", "id": "dora"}, "read", {"type": "doc", "id": "42"})
    assert not await decisions.can("user:u-dora", "edit", "doc:43")
    assert not await decisions.can("user:u-nobody", "edit", "doc:42")
    # A full permission as the action, and a resource path below the bound scope.
    assert await decisions.can("user:u-dora", "doc:edit", "doc:42/page:7")
    assert not await decisions.can("user:u-dora", "doc:edit", "doc:43/page:7")


async def test_decisions_are_cached_for_the_ttl(live_sqlite: Live) -> None:
    client = DecisionClient(live_sqlite.url, *live_sqlite.pep.basic, ttl=0.3)
    try:
        for _ in range(10):
            assert await client.can("user:u-dora", "edit", "doc:42")
        assert client.evaluations == 1
        assert not await client.can("user:u-dora", "edit", "doc:43")
        assert client.evaluations == 2
        await asyncio.sleep(0.35)
        assert await client.can("user:u-dora", "edit", "doc:42")
        assert client.evaluations == 3
    finally:
        await client.aclose()


async def test_one_access_token_is_reused(decisions: DecisionClient, live_sqlite: Live) -> None:
    await decisions.can("user:u-dora", "edit", "doc:42")
    first = decisions._token
    await asyncio.gather(*(decisions.can("user:u-dora", "edit", f"doc:{n}") for n in range(20)))
    assert decisions._token == first


def test_sync_variant(live_sqlite: Live) -> None:
    client = DecisionClient(live_sqlite.url, *live_sqlite.pep.basic)
    try:
        assert client.can_sync("user:u-dora", "edit", "doc:42")
        assert not client.can_sync("user:u-dora", "edit", "doc:43")
    finally:
        client.close()


async def test_context_is_sent(decisions: DecisionClient) -> None:
    body = decisions.request("user:u-dora", "edit", "doc:42", {"ip": "192.0.2.1"})
    assert body["context"] == {"ip": "192.0.2.1"}
    assert await decisions.can("user:u-dora", "edit", "doc:42", {"ip": "192.0.2.1"})


async def test_wrong_client_secret_is_issuer_unavailable(live_sqlite: Live) -> None:
    """A misconfigured client is the API's problem (a 503), not a "no"."""
    client = DecisionClient(live_sqlite.url, live_sqlite.pep.client_id, "wrong")
    try:
        with pytest.raises(IssuerUnavailable, match="refused this client"):
            await client.can("user:u-dora", "edit", "doc:42")
    finally:
        await client.aclose()


async def test_client_without_authgate_evaluate_is_refused(live_sqlite: Live) -> None:
    client = DecisionClient(live_sqlite.url, *live_sqlite.service.basic)
    try:
        with pytest.raises(IssuerUnavailable):
            await client.can("user:u-dora", "edit", "doc:42")
    finally:
        await client.aclose()


async def test_bad_resource_is_a_value_error(decisions: DecisionClient) -> None:
    """AuthGate answers 400 to a resource that cannot be a path segment."""
    with pytest.raises(ValueError, match="refused the decision request"):
        await decisions.can("user:u-dora", "edit", {"type": "doc", "id": "/todos/{id}"})


@pytest.mark.parametrize("bad", ["alice", "user:", ":42", ""])
def test_entities_are_type_and_id(bad: str) -> None:
    with pytest.raises(ValueError, match="type:id"):
        entity(bad, "subject")
    assert entity("org:acme/doc:42", "resource") == {
        "type": "doc",
        "id": "42",
        "properties": {"path": "org:acme/doc:42"},
    }
