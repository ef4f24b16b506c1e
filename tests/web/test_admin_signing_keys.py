"""``/admin/v1/signing-keys`` (docs/admin-api.md): the signing keys as public facts only
(never private material), and a rotation through the API that behaves as
``authgate keys rotate``: a new key per algorithm that signs after the propagation delay,
the old ones published until their tokens expire (RFC 7517 §5: the JWKS lists both)."""

# ruff: noqa: F401, F811

from __future__ import annotations

from datetime import timedelta

import httpx

from authgate.audit.events import AuditTag
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.keys.service import ALGORITHMS
from tests.web.test_admin_api import (
    Admins,
    _model_changes_seen_at_once,
    _no_groups_left,
    _one_rsa_key_per_run,
    admins,
    assert_error,
    events,
    http,
    root,
    walk,
)

KEYS = "/admin/v1/signing-keys"
ROTATE = KEYS + "/rotate"
FIELDS = {
    "kid",
    "alg",
    "state",
    "published",
    "created_at",
    "activates_at",
    "retires_at",
    "publish_until",
}


async def test_the_list_shows_public_facts_only(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    response = await http.get(KEYS, headers=root)
    assert response.status_code == 200, response.text
    keys = response.json()["items"]
    assert {k["alg"] for k in keys} == set(ALGORITHMS)
    assert all(set(k) == FIELDS and k["state"] == "active" for k in keys)
    assert [k["kid"] for k in keys] == sorted(k["kid"] for k in keys)
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in keys} == {k["kid"] for k in jwks["keys"]}
    # RFC 7518 §6.2.2 / §6.3.2: the private members; none may appear anywhere.
    for member in ('"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"', "private"):
        assert member not in response.text


async def test_rotation_publishes_new_keys_that_sign_after_the_delay(
    http: httpx.AsyncClient, container: Container, clock: FrozenClock, root: dict[str, str]
) -> None:
    before = {k["kid"] for k in (await http.get(KEYS, headers=root)).json()["items"]}
    rotated = await http.post(ROTATE, headers=root)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["items"]
    assert {k["alg"] for k in new} == set(ALGORITHMS)
    assert all(k["state"] == "next" and k["kid"] not in before for k in new)
    assert rotated.headers["location"] == container.settings.issuer + KEYS

    listed = {k["kid"]: k for k in await walk(http, KEYS + "?limit=1", root)}
    assert set(listed) == before | {k["kid"] for k in new}
    assert all(listed[kid]["retires_at"] is not None for kid in before)
    jwks = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]}
    assert jwks == set(listed), "the next keys are published before they sign"

    clock.advance(container.settings.key_propagation + timedelta(seconds=1))
    states = {k["kid"]: k["state"] for k in await walk(http, KEYS, root)}
    assert all(states[k["kid"]] == "active" for k in new)
    assert all(states[kid] == "retired" for kid in before)
    rotations = await events(container, AuditTag.KEY_ROTATED)
    assert len(rotations) == len(ALGORITHMS)
    assert all(e.actor is not None and e.actor.startswith("client:") for e in rotations)


async def test_an_immediate_rotation_signs_at_once(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    rotated = await http.post(ROTATE, json={"immediate": True}, headers=root)
    assert rotated.status_code == 201, rotated.text
    assert all(k["state"] == "active" for k in rotated.json()["items"])
    for bad in ({"immediate": "yes"}, {"now": True}, []):
        assert_error(await http.post(ROTATE, json=bad, headers=root), 400, "invalid_request")


async def test_keys_need_their_permissions(http: httpx.AsyncClient, admins: Admins) -> None:
    await admins.role("key-reader", "authgate:keys.read")
    _, reader = await admins.client(("key-reader", "/"))
    _, nobody = await admins.client()
    assert (await http.get(KEYS, headers=reader)).status_code == 200
    for headers, method, path, permission in (
        (nobody, "GET", KEYS, "authgate:keys.read"),
        (reader, "POST", ROTATE, "authgate:keys.write"),
    ):
        body = assert_error(
            await http.request(method, path, headers=headers), 403, "insufficient_scope"
        )
        assert (body["permission"], body["scope"]) == (permission, "/")
