"""``/forward-auth`` over HTTP, in process, on both databases (PRODUCT §6): the answers a
proxy acts on (RFC 6750 §3 challenges), the identity headers, route rules, scoped
decisions through the access engine, API keys, and the decision cache's limits."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.forwardauth.store import RouteFields
from tests.conformance.conftest import BILLING, ORDERS, REVOKE, Registered, token_request
from tests.forward_auth.conftest import FORWARD_AUTH, HOST, ask, proxied, token_for

REALM = 'Bearer realm="authgate"'


def assert_json(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert len(response.content) < 200  # tiny: proxies pass it on or drop it
    return dict(response.json())


# -- RFC 6750 §3: the challenges ---------------------------------------------------------


async def test_no_credential_is_401_with_the_realm_and_no_error_code(
    http: httpx.AsyncClient,
) -> None:
    """RFC 6750 §3.1: a request without authentication gets no error code."""
    response = await ask(http, "/orders")
    assert_json(response, 401)
    assert response.headers["www-authenticate"] == REALM


async def test_another_authorization_scheme_counts_as_no_credential(
    http: httpx.AsyncClient,
) -> None:
    response = await ask(http, "/orders", extra={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert_json(response, 401)
    assert response.headers["www-authenticate"] == REALM


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "agk_not-a-key", "agat_unknown", "x" * 9000], ids=str.__len__
)
async def test_an_invalid_credential_is_401_invalid_token(
    http: httpx.AsyncClient, token: str
) -> None:
    """RFC 6750 §3.1 ``invalid_token``."""
    response = await ask(http, "/orders", token)
    assert assert_json(response, 401)["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == f'{REALM}, error="invalid_token"'


async def test_a_token_for_another_audience_is_401_invalid_token(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """Spec §6: the rule's audience must be in the token's ``aud``."""
    billing = await token_for(http, service, BILLING)
    response = await ask(http, "/orders", billing)
    assert assert_json(response, 401)["error"] == "invalid_token"


async def test_allowed_answers_200_with_the_identity_headers(
    http: httpx.AsyncClient, service: Registered, orders_token: str
) -> None:
    response = await ask(http, "/orders?page=2", orders_token)
    assert_json(response, 200)
    assert response.headers["x-authgate-subject"] == service.client_id
    assert response.headers["x-authgate-subject-type"] == "client"
    assert response.headers["x-authgate-client"] == service.client_id
    assert "orders:read" in response.headers["x-authgate-scope"].split()
    assert response.headers["x-authgate-key-id"] == ""  # sent empty: see below


async def test_a_missing_permission_is_403_insufficient_scope(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    """RFC 6750 §3.1 ``insufficient_scope``: POST /orders needs orders:write."""
    response = await ask(http, "/orders", orders_token, method="POST")
    assert assert_json(response, 403)["error"] == "insufficient_scope"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'{REALM}, error="insufficient_scope"')
    assert 'scope="orders:write"' in challenge


# -- the original request ------------------------------------------------------------------


async def test_nginx_headers_describe_the_request_too(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    headers = {
        "X-Original-Method": "GET",
        "X-Original-URI": "/orders",
        "X-Original-Host": "API.Example.com:8443",
        "Authorization": f"Bearer {orders_token}",
    }
    assert (await http.get(FORWARD_AUTH, headers=headers)).status_code == 200


async def test_any_method_may_carry_the_sub_request(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    headers = {**proxied("/orders"), "Authorization": f"Bearer {orders_token}"}
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert (await http.request(method, FORWARD_AUTH, headers=headers)).status_code == 200
    head = await http.head(FORWARD_AUTH, headers=headers)
    assert head.status_code == 200 and head.content == b""


async def test_paths_below_the_endpoint_are_answered_from_the_headers_alone(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    """Envoy's ext_authz HTTP service appends the original path to its path prefix: the
    decision still follows X-Forwarded-Uri, whatever that path says."""
    headers = {**proxied("/orders", "POST"), "Authorization": f"Bearer {orders_token}"}
    assert (await http.post(FORWARD_AUTH + "/health", headers=headers)).status_code == 403
    headers = {**proxied("/orders"), "Authorization": f"Bearer {orders_token}"}
    assert (await http.get(FORWARD_AUTH + "/orders", headers=headers)).status_code == 200
    assert (await http.get("/forward-authx", headers=headers)).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Forwarded-Uri": "/orders"},  # no method
        {"X-Forwarded-Method": "GET"},  # no URI
        {"X-Forwarded-Method": "G E T", "X-Forwarded-Uri": "/orders"},
        # Both descriptions: a client may have added one the proxy passed on.
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/health", "X-Original-URI": "/orders"},
    ],
    ids=["none", "no-method", "no-uri", "bad-method", "both"],
)
async def test_a_sub_request_that_does_not_describe_one_request_is_400(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert assert_json(await http.get(FORWARD_AUTH, headers=headers), 400)["error"] == (
        "invalid_request"
    )


async def test_a_repeated_description_header_is_400(http: httpx.AsyncClient) -> None:
    headers = [
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Uri", "/health"),
        ("X-Forwarded-Uri", "/orders"),
    ]
    assert_json(await http.get(FORWARD_AUTH, headers=headers), 400)


# -- route rules ----------------------------------------------------------------------------


IDENTITY = (
    "x-authgate-subject",
    "x-authgate-subject-type",
    "x-authgate-client",
    "x-authgate-scope",
    "x-authgate-key-id",
)


async def test_a_public_route_needs_no_credential_and_gives_no_identity(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    """Every identity header is sent, empty: a proxy copying them overwrites any a client
    sent, and none names a caller."""
    for credential in (None, "garbage", orders_token):
        response = await ask(http, "/health?verbose=1", credential, method="POST", host="x")
        assert_json(response, 200)
        assert {h: response.headers.get(h) for h in IDENTITY} == dict.fromkeys(IDENTITY, "")


@pytest.mark.parametrize(
    ("uri", "method", "host"),
    [
        ("/nothing", "GET", HOST),
        ("/orders", "GET", "other.example.com"),  # the rule names a host
        ("/orders", "GET", None),
        ("/orders", "PUT", HOST),  # the rules name methods
        ("/orders/42/items", "GET", HOST),  # {param} is one segment
        ("/orders/", "GET", HOST),  # {param} is never empty
        ("/Orders", "GET", HOST),  # paths are case-sensitive
    ],
    ids=["unknown", "other-host", "no-host", "method", "deeper", "empty-param", "case"],
)
async def test_a_request_no_rule_matches_is_403(
    http: httpx.AsyncClient, orders_token: str, uri: str, method: str, host: str | None
) -> None:
    response = await ask(http, uri, orders_token, method=method, host=host)
    assert assert_json(response, 403)["error"] == "access_denied"


@pytest.mark.parametrize(
    "uri",
    [
        "/orders/../invoices",
        "/orders/%2e%2e/invoices",
        "/orders/.",
        "/orders/42%2F43",
        "/orders/42%5c43",
        "/orders/42\\43",
        "/orders/42;jsessionid=1",
        "/orders/%zz",
        "/orders/%ff",
        "/orders/%00",
        "/orders/a%20b",  # no resource path can hold a space
        "orders",
        "http://api.example.com/orders",
    ],
)
async def test_an_ambiguous_path_is_403_not_a_guess(
    http: httpx.AsyncClient, orders_token: str, uri: str
) -> None:
    response = await ask(http, uri, orders_token)
    assert assert_json(response, 403)["error"] == "access_denied"


async def test_host_is_compared_case_insensitively_without_port(
    http: httpx.AsyncClient, orders_token: str
) -> None:
    for host in ("API.EXAMPLE.COM", "api.example.com:443", "api.example.com."):
        assert (await ask(http, "/orders", orders_token, host=host)).status_code == 200


async def test_the_first_matching_rule_decides(
    container: Container, http: httpx.AsyncClient, orders_token: str
) -> None:
    """Config rules come first; a later admin-managed rule for the same path changes
    nothing, one for a path no config rule matches takes effect at once."""
    await container.forward_auth.routes.create(CLI, RouteFields("/orders", public=True), None)
    await container.forward_auth.routes.create(
        CLI, RouteFields("/reports/{id}", permission="orders:read"), None
    )
    assert (await ask(http, "/orders")).status_code == 401
    assert (await ask(http, "/reports/7", orders_token)).status_code == 200


# -- scoped decisions ---------------------------------------------------------------------


@pytest.fixture
async def clerk(container: Container, http: httpx.AsyncClient, apis: None) -> str:
    """A client that reads only order 42 (a binding on ``order:42``): its token carries no
    orders:read, since scoped grants are never copied into tokens (spec §1)."""
    client, secret = await container.clients.create(
        CLI, name="Order 42 clerk", grant_types=["client_credentials"], audiences=[ORDERS]
    )
    await container.access.create_role(CLI, "order-viewer", ["orders:read"])
    await container.access.bind(CLI, "order-viewer", f"client:{client.client_id}", "order:42")
    return await token_for(http, Registered(client.client_id, secret))


async def test_a_resource_rule_asks_the_engine_about_that_resource(
    http: httpx.AsyncClient, clerk: str
) -> None:
    assert (await ask(http, "/orders/42", clerk)).status_code == 200
    denied = await ask(http, "/orders/43", clerk)
    assert assert_json(denied, 403)["error"] == "insufficient_scope"
    # Without a resource the token's scope decides, and it does not carry orders:read.
    assert (await ask(http, "/orders", clerk)).status_code == 403


async def test_a_binding_removed_is_seen_at_once_despite_the_cache(
    container: Container, http: httpx.AsyncClient, clerk: str
) -> None:
    assert (await ask(http, "/orders/42", clerk)).status_code == 200
    [binding] = [
        b for b in await container.access.list_bindings(None, 100) if b.scope == "order:42"
    ]
    await container.access.unbind(CLI, binding.id)
    assert (await ask(http, "/orders/42", clerk)).status_code == 403


# -- revocation and the cache --------------------------------------------------------------


async def test_a_revoked_token_is_refused_at_once_despite_the_cache(
    http: httpx.AsyncClient, service: Registered, orders_token: str
) -> None:
    """RFC 7009 §2: revoked tokens stop working; the cached 200 is dropped."""
    assert (await ask(http, "/orders", orders_token)).status_code == 200
    revoked = await token_request(http, {"token": orders_token}, service, path=REVOKE)
    assert revoked.status_code == 200
    response = await ask(http, "/orders", orders_token)
    assert assert_json(response, 401)["error"] == "invalid_token"


async def test_a_disabled_client_is_refused_at_once(
    container: Container, http: httpx.AsyncClient, service: Registered, orders_token: str
) -> None:
    """Spec §7: disabling a client ends what it holds at once."""
    assert (await ask(http, "/orders", orders_token)).status_code == 200
    await container.clients.set_disabled(service.client_id, True, CLI)
    assert (await ask(http, "/orders", orders_token)).status_code == 401


async def test_a_cached_decision_never_outlives_the_token(
    container: Container, http: httpx.AsyncClient, clock: FrozenClock, apis: None
) -> None:
    """The cache keeps decisions 60 s here; a token ending in 30 s is refused after 30 s."""
    client, secret = await container.clients.create(
        CLI,
        name="Short-lived",
        grant_types=["client_credentials"],
        audiences=[ORDERS],
        access_token_ttl="30s",
    )
    await container.access.create_role(CLI, "reader", ["orders:read"])
    await container.access.bind(CLI, "reader", f"client:{client.client_id}", "/")
    token = await token_for(http, Registered(client.client_id, secret))
    assert (await ask(http, "/orders", token)).status_code == 200
    clock.advance(timedelta(seconds=31))
    assert (await ask(http, "/orders", token)).status_code == 401


async def test_refused_credentials_are_never_remembered(
    container: Container, http: httpx.AsyncClient, orders_token: str
) -> None:
    """A flood of random tokens must not grow memory: only decisions for live credentials
    are kept, and never more than ``cache_max_entries``."""
    assert (await ask(http, "/orders", orders_token)).status_code == 200
    size = len(container.forward_auth.cache)
    for _ in range(50):
        assert (await ask(http, "/orders", secrets.token_urlsafe(40))).status_code == 401
    assert len(container.forward_auth.cache) == size == 1


# -- API keys (spec §5: accepted as Bearer or X-API-Key) ------------------------------------


@pytest.fixture
async def owner(container: Container) -> str:
    """A user holding orders:read and orders:write at /."""
    user = await container.users.create("olga", CLI)
    await container.access.create_role(CLI, "order-clerk", ["orders:read", "orders:write"])
    await container.access.bind(CLI, "order-clerk", f"user:{user.id}")
    return user.id


@pytest.mark.parametrize("as_header", [True, False], ids=["x-api-key", "bearer"])
async def test_an_api_key_is_a_credential(
    container: Container, http: httpx.AsyncClient, owner: str, as_header: bool
) -> None:
    made = await container.api_keys.create(CLI, f"user:{owner}", permissions=["orders:read"])
    response = await ask(http, "/orders", made.key, api_key=as_header)
    assert_json(response, 200)
    assert response.headers["x-authgate-subject"] == owner
    assert response.headers["x-authgate-subject-type"] == "apikey"
    assert response.headers["x-authgate-key-id"] == made.api_key.id
    # The scope passed upstream is what the key may do: its list, not all the owner holds.
    assert response.headers["x-authgate-scope"] == "orders:read"
    # Its list leaves orders:write out, though the owner holds it.
    refused = await ask(http, "/orders", made.key, method="POST", api_key=as_header)
    assert assert_json(refused, 403)["error"] == "insufficient_scope"


async def test_an_api_key_is_limited_by_its_list_on_resource_rules_too(
    container: Container, http: httpx.AsyncClient, owner: str
) -> None:
    made = await container.api_keys.create(CLI, f"user:{owner}", permissions=["orders:write"])
    assert (await ask(http, "/orders/42", made.key, api_key=True)).status_code == 403


async def test_a_revoked_api_key_is_refused_at_once(
    container: Container, http: httpx.AsyncClient, owner: str
) -> None:
    made = await container.api_keys.create(CLI, f"user:{owner}", permissions=["orders:read"])
    assert (await ask(http, "/orders", made.key, api_key=True)).status_code == 200
    await container.api_keys.revoke(CLI, made.api_key.id)
    response = await ask(http, "/orders", made.key, api_key=True)
    assert assert_json(response, 401)["error"] == "invalid_token"


async def test_a_disabled_owner_ends_the_key(
    container: Container, http: httpx.AsyncClient, owner: str
) -> None:
    made = await container.api_keys.create(CLI, f"user:{owner}", permissions=["orders:read"])
    assert (await ask(http, "/orders", made.key, api_key=True)).status_code == 200
    await container.users.set_disabled("olga", True, CLI)
    assert (await ask(http, "/orders", made.key, api_key=True)).status_code == 401
