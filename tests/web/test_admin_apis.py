"""``/admin/v1/apis`` (docs/admin-api.md): protected APIs through the admin API — create
(``201`` + ``Location``, ``409`` on a duplicate audience), read with an ETag, change with
``PATCH`` and ``If-Match`` (RFC 9110 §13.1.1: a stale tag is ``412``), keyset pages by
audience, and the ``authgate:apis.read|write`` permissions."""

# ruff: noqa: F401, F811

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from authgate.audit.events import AuditTag
from authgate.container import Container
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

APIS = "/admin/v1/apis"
ORDERS = "https://orders.example.com"


def item(audience: str) -> str:
    return f"{APIS}/{quote(audience, safe='')}"


async def test_api_life_create_read_change(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    created = await http.post(
        APIS,
        json={"audience": ORDERS, "name": "Orders", "permissions": ["orders:read"]},
        headers=root,
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "audience": ORDERS,
        "name": "Orders",
        "permissions": ["orders:read"],
        "token_format": "jwt",
    }
    location = created.headers["location"]
    assert location == container.settings.issuer + item(ORDERS)
    tag = created.headers["etag"]

    fetched = await http.get(location, headers=root)
    assert fetched.status_code == 200 and fetched.headers["etag"] == tag
    assert fetched.json() == created.json()

    changed = await http.patch(
        location,
        json={"permissions": ["orders:read", "orders:write"]},
        headers=root | {"If-Match": tag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"] == ["orders:read", "orders:write"]
    assert changed.json()["name"] == "Orders", "what PATCH does not name stays"
    assert changed.headers["etag"] != tag

    # The service sees the change: tokens for the API may now carry orders:write.
    api = await container.apis.get(ORDERS)
    assert api is not None and api.permissions == ("orders:read", "orders:write")
    (event,) = await events(container, AuditTag.API_UPDATED)
    assert event.subject == f"api:{ORDERS}"
    assert event.details == {"permissions": ["orders:read", "orders:write"]}
    assert event.actor is not None and event.actor.startswith("client:")


async def test_a_stale_etag_is_412_and_changes_nothing(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    created = await http.post(APIS, json={"audience": ORDERS, "name": "Orders"}, headers=root)
    stale = created.headers["etag"]
    first = await http.patch(
        item(ORDERS), json={"name": "Orders v2"}, headers=root | {"If-Match": stale}
    )
    assert first.status_code == 200
    second = await http.patch(
        item(ORDERS), json={"name": "Orders v3"}, headers=root | {"If-Match": stale}
    )
    assert_error(second, 412, "precondition_failed")
    assert (await http.get(item(ORDERS), headers=root)).json()["name"] == "Orders v2"


async def test_a_duplicate_audience_is_409_and_bad_input_400(
    http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    body = {"audience": ORDERS, "name": "Orders"}
    assert (await http.post(APIS, json=body, headers=root)).status_code == 201
    assert_error(await http.post(APIS, json=body, headers=root), 409, "conflict")
    for bad in (
        {"audience": "not a uri", "name": "x"},
        {"audience": "https://x.example.com#frag", "name": "x"},
        {"audience": "https://x.example.com", "name": ""},
        {"audience": "https://x.example.com", "name": "x", "token_format": "paseto"},
        {"audience": "https://x.example.com", "name": "x", "permissions": ["no-colon"]},
        {"audience": "https://x.example.com", "name": "x", "colour": "red"},
    ):
        assert_error(await http.post(APIS, json=bad, headers=root), 400, "invalid_request")
    for bad in ({}, {"token_format": "opaque"}, {"audience": "https://y.example.com"}):
        response = await http.patch(item(ORDERS), json=bad, headers=root)
        assert_error(response, 400, "invalid_request")
    assert_error(
        await http.get(item("https://nowhere.example.com"), headers=root), 404, "not_found"
    )
    missing = await http.patch(
        item("https://nowhere.example.com"), json={"name": "x"}, headers=root
    )
    assert_error(missing, 404, "not_found")


async def test_apis_are_paged_by_audience(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    audiences = [f"https://api{i}.example.com" for i in range(5)]
    for audience in reversed(audiences):
        await http.post(APIS, json={"audience": audience, "name": audience}, headers=root)
    first = (await http.get(APIS, params={"limit": 2}, headers=root)).json()
    assert [a["audience"] for a in first["items"]] == audiences[:2]
    assert first["next"].startswith(container.settings.issuer + APIS + "?")
    listed = [a["audience"] for a in await walk(http, APIS + "?limit=2", root)]
    assert listed == audiences


async def test_apis_need_their_permissions(http: httpx.AsyncClient, admins: Admins) -> None:
    await admins.role("api-reader", "authgate:apis.read")
    _, reader = await admins.client(("api-reader", "/"))
    _, nobody = await admins.client()
    assert (await http.get(APIS, headers=reader)).status_code == 200
    for headers, method, path, permission in (
        (nobody, "GET", APIS, "authgate:apis.read"),
        (nobody, "GET", item(ORDERS), "authgate:apis.read"),
        (reader, "POST", APIS, "authgate:apis.write"),
        (reader, "PATCH", item(ORDERS), "authgate:apis.write"),
    ):
        response = await http.request(method, path, headers=headers, json={"name": "x"})
        body = assert_error(response, 403, "insufficient_scope")
        assert (body["permission"], body["scope"]) == (permission, "/")


async def test_authgates_own_api_cannot_be_registered_again(
    http: httpx.AsyncClient, container: Container, root: dict[str, str]
) -> None:
    """The admin API's audience exists without registration: a second API with that
    audience would make one ``resource`` name two APIs (RFC 8707 §2)."""
    own = container.oauth.config.admin_audience
    made = await http.post(APIS, json={"audience": own, "name": "Mine"}, headers=root)
    body = assert_error(made, 409, "conflict")
    assert "AuthGate's own API" in body["error_description"]
    assert await container.apis.get(own) is None
