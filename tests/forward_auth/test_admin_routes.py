"""``/admin/v1/forward-auth/routes`` (docs/admin-api.md conventions, RFC 9110 §13.1.1
``If-Match``): rules managed at run time take effect in ``/forward-auth`` at once, after
the config file's rules."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from authgate.container import Container
from authgate.storage.models import AuditEventRow
from tests.forward_auth.conftest import ask
from tests.web.test_admin_api import Admins

ROUTES = "/admin/v1/forward-auth/routes"


@pytest.fixture
def admins(container: Container, http: httpx.AsyncClient) -> Admins:
    return Admins(container, http)


@pytest.fixture
async def operator(admins: Admins) -> dict[str, str]:
    """A client holding authgate:routes.read and authgate:routes.write at /."""
    await admins.role("route-admin", "authgate:routes.read", "authgate:routes.write")
    _, headers = await admins.client(("route-admin", "/"))
    return headers


@pytest.fixture
async def reader(admins: Admins) -> dict[str, str]:
    await admins.role("route-reader", "authgate:routes.read")
    _, headers = await admins.client(("route-reader", "/"))
    return headers


async def test_a_created_route_takes_effect_at_once(
    http: httpx.AsyncClient, operator: dict[str, str], orders_token: str
) -> None:
    assert (await ask(http, "/reports/7", orders_token)).status_code == 403  # no rule yet
    body = {"path": "/reports/{id}", "methods": ["GET"], "permission": "orders:read"}
    created = await http.post(ROUTES, json=body, headers=operator)
    assert created.status_code == 201, created.text
    route = created.json()
    assert created.headers["location"].endswith(f"{ROUTES}/{route['id']}")
    assert created.headers["etag"].startswith('"')
    assert route["path"] == "/reports/{id}" and route["methods"] == ["GET"]
    assert (await ask(http, "/reports/7", orders_token)).status_code == 200
    assert (await ask(http, "/reports/7", orders_token, method="POST")).status_code == 403
    fetched = await http.get(f"{ROUTES}/{route['id']}", headers=operator)
    assert fetched.json() == route


async def test_config_rules_come_first(http: httpx.AsyncClient, operator: dict[str, str]) -> None:
    """``/orders`` needs orders:read by the config file; a public admin rule cannot open it."""
    body = {"path": "/orders", "public": True, "position": 0}
    assert (await http.post(ROUTES, json=body, headers=operator)).status_code == 201
    assert (await ask(http, "/orders")).status_code == 401


async def test_routes_are_listed_in_matching_order_page_by_page(
    http: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    for n, position in enumerate((5, 1, 3)):
        body = {"path": f"/r{n}", "public": True, "position": position}
        assert (await http.post(ROUTES, json=body, headers=operator)).status_code == 201
    appended = await http.post(ROUTES, json={"path": "/last", "public": True}, headers=operator)
    assert appended.json()["position"] == 6
    first = (await http.get(ROUTES, params={"limit": 2}, headers=operator)).json()
    assert [r["path"] for r in first["items"]] == ["/r1", "/r2"]
    second = (await http.get(first["next"], headers=operator)).json()
    assert [r["path"] for r in second["items"]] == ["/r0", "/last"]
    assert second["next"] is None


async def test_a_change_needs_the_current_etag_and_takes_effect_at_once(
    http: httpx.AsyncClient, operator: dict[str, str], orders_token: str
) -> None:
    created = await http.post(ROUTES, json={"path": "/status", "public": True}, headers=operator)
    where = created.headers["location"]
    assert (await ask(http, "/status")).status_code == 200
    change = {"public": False, "permission": "orders:write"}
    stale = await http.patch(where, json=change, headers={**operator, "If-Match": '"stale"'})
    assert stale.status_code == 412
    changed = await http.patch(
        where, json=change, headers={**operator, "If-Match": created.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permission"] == "orders:write"
    assert (await ask(http, "/status")).status_code == 401
    assert (await ask(http, "/status", orders_token)).status_code == 403
    gone = await http.delete(where, headers={**operator, "If-Match": changed.headers["etag"]})
    assert gone.status_code == 204
    assert (await ask(http, "/status")).status_code == 403
    assert (await http.get(where, headers=operator)).status_code == 404


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"path": "/a"}, "exactly one of permission or public"),
        ({"path": "/a/{x}", "permission": "a:read", "resource": "a:{y}"}, "does not define"),
        ({"path": "/a", "permission": "a:read", "extra": 1}, "extra"),
        ({"path": "/a", "public": "yes"}, "public"),
    ],
)
async def test_a_bad_rule_is_400_saying_why(
    http: httpx.AsyncClient, operator: dict[str, str], body: dict[str, object], complaint: str
) -> None:
    response = await http.post(ROUTES, json=body, headers=operator)
    assert response.status_code == 400, response.text
    assert complaint in response.json()["error_description"]


async def test_reading_and_writing_need_their_permissions(
    http: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    """RFC 6750 §3.1: no token is 401; a caller without routes.write is 403."""
    assert (await http.get(ROUTES)).status_code == 401
    assert (await http.get(ROUTES, headers=reader)).status_code == 200
    refused = await http.post(ROUTES, json={"path": "/a", "public": True}, headers=reader)
    assert refused.status_code == 403
    assert refused.json()["permission"] == "authgate:routes.write"


async def test_every_change_is_in_the_audit_log(
    http: httpx.AsyncClient, container: Container, operator: dict[str, str]
) -> None:
    """docs/events.md: route:created, route:updated and route:deleted, naming the rule and
    the caller."""
    created = await http.post(ROUTES, json={"path": "/status", "public": True}, headers=operator)
    route_id = created.json()["id"]
    changed = await http.patch(
        created.headers["location"], json={"public": False, "permission": "orders:read"},
        headers=operator,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert (await http.delete(created.headers["location"], headers=operator)).status_code == 204
    async with container.db.transaction() as session:
        rows = (
            await session.execute(
                select(AuditEventRow.tag, AuditEventRow.subject, AuditEventRow.actor)
                .where(AuditEventRow.tag.like("route:%"))
                .order_by(AuditEventRow.id)
            )
        ).all()
    assert [(tag, subject) for tag, subject, _ in rows] == [
        ("route:created", f"route:{route_id}"),
        ("route:updated", f"route:{route_id}"),
        ("route:deleted", f"route:{route_id}"),
    ]
    assert all(actor and actor.startswith("client:") for _, _, actor in rows)
