"""RFC 6749 §3.2 and §5: the token endpoint's request rules, client authentication (§2.3),
and the client credentials grant (§4.4) with the effective-scope rule and resource
indicators (RFC 8707)."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    BILLING,
    INTROSPECT,
    ORDERS,
    REVOKE,
    TOKEN,
    Registered,
    assert_oauth_error,
    client_credentials,
    sqlite_only,
    token_request,
    verify_jwt,
)

# -- request syntax ---------------------------------------------------------------------


@sqlite_only
async def test_missing_grant_type_is_invalid_request(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§5.2: a request missing a required parameter is ``invalid_request`` (400)."""
    response = await token_request(http, {"scope": "orders:read"}, service)
    assert_oauth_error(response, "invalid_request", 400)


@pytest.mark.parametrize(
    "grant_type",
    ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "magic"],
    ids=["password", "implicit", "device-code", "made-up"],
)
@sqlite_only
async def test_unknown_or_withheld_grant_type_is_unsupported(
    http: httpx.AsyncClient, service: Registered, grant_type: str
) -> None:
    """§5.2 ``unsupported_grant_type`` (400); RFC 9700 §2.4: no resource owner password
    credentials grant, and no implicit grant at all."""
    form = {"grant_type": grant_type, "username": "alice", "password": "x"}
    response = await token_request(http, form, service)
    assert_oauth_error(response, "unsupported_grant_type", 400)


@sqlite_only
async def test_repeated_parameter_is_invalid_request(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§3.2: request and response parameters must not be included more than once."""
    response = await http.post(
        TOKEN,
        content=b"grant_type=client_credentials&scope=orders:read&scope=orders:write",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=service.basic,
    )
    assert_oauth_error(response, "invalid_request", 400)


@sqlite_only
async def test_json_body_is_invalid_request(http: httpx.AsyncClient, service: Registered) -> None:
    """§3.2 / Appendix B: parameters are sent form-encoded; JSON is refused."""
    response = await http.post(TOKEN, json={"grant_type": "client_credentials"}, auth=service.basic)
    assert_oauth_error(response, "invalid_request", 400)


@sqlite_only
async def test_success_and_error_are_not_cached(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§5.1 and §5.2: ``Cache-Control: no-store`` on every token response."""
    ok = await token_request(http, {"grant_type": "client_credentials"}, service)
    assert ok.status_code == 200
    assert ok.headers["cache-control"] == "no-store"
    assert ok.headers["pragma"] == "no-cache"
    bad = await token_request(http, {"grant_type": "client_credentials", "scope": "x:y"}, service)
    assert bad.status_code == 400
    assert bad.headers["cache-control"] == "no-store"


# -- client authentication --------------------------------------------------------------


@sqlite_only
async def test_basic_failure_is_401_with_challenge(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§5.2: when the client tried the Authorization header, ``invalid_client`` comes with
    401 and ``WWW-Authenticate``."""
    wrong = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=(service.client_id, "agcs_wrong")
    )
    assert_oauth_error(wrong, "invalid_client", 401)
    assert wrong.headers["www-authenticate"].lower().startswith("basic")
    unknown = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("nobody", "agcs_wrong")
    )
    assert_oauth_error(unknown, "invalid_client", 401)
    assert unknown.headers["www-authenticate"].lower().startswith("basic")


@sqlite_only
async def test_malformed_basic_header_is_invalid_client(http: httpx.AsyncClient) -> None:
    """§2.3.1: credentials that do not decode to ``id:secret`` fail client authentication."""
    header = "Basic " + base64.b64encode(b"no-colon-here").decode()
    response = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert_oauth_error(response, "invalid_client", 401)
    assert "www-authenticate" in response.headers


@sqlite_only
async def test_post_failure_is_401_without_challenge(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§5.2: without the Authorization header there is no Basic challenge to send."""
    form = {
        "grant_type": "client_credentials",
        "client_id": service.client_id,
        "client_secret": "agcs_wrong",
    }
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(response, "invalid_client", 401)
    assert "www-authenticate" not in response.headers


@sqlite_only
async def test_no_credentials_for_a_confidential_client(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§3.2.1: a confidential client must authenticate; naming itself is not enough."""
    form = {"grant_type": "client_credentials", "client_id": service.client_id}
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(response, "invalid_client", 401)
    nothing = await http.post(TOKEN, data={"grant_type": "client_credentials"})
    assert_oauth_error(nothing, "invalid_client", 401)


@sqlite_only
async def test_client_secret_post(http: httpx.AsyncClient, service: Registered) -> None:
    """§2.3.1: the secret may travel in the body (client_secret_post)."""
    response = await token_request(
        http, {"grant_type": "client_credentials"}, service, method="post"
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


@sqlite_only
async def test_two_authentication_methods_at_once(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§2.3: the client must not use more than one authentication method per request."""
    form = {"grant_type": "client_credentials", "client_secret": service.secret or ""}
    response = await http.post(TOKEN, data=form, auth=service.basic)
    assert_oauth_error(response, "invalid_request", 400)


async def test_disabled_client_is_refused(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """Spec §7 / RFC 6749 §5.2: a disabled client no longer authenticates."""
    await client_credentials(http, service)
    await container.clients.set_disabled(service.client_id, True, CLI)
    response = await token_request(http, {"grant_type": "client_credentials"}, service)
    assert_oauth_error(response, "invalid_client", 401)


async def test_secret_rotation_keeps_the_old_secret_for_the_overlap(
    http: httpx.AsyncClient, container: Container, clock: FrozenClock, service: Registered
) -> None:
    """§2.3.1 credentials, rotated without downtime: during the overlap both secrets work,
    after it only the new one."""
    new_secret = await container.clients.rotate_secret(
        service.client_id, CLI, overlap=timedelta(minutes=10)
    )
    rotated = Registered(service.client_id, new_secret)
    await client_credentials(http, service)
    await client_credentials(http, rotated)
    clock.advance(timedelta(minutes=11))
    old = await token_request(http, {"grant_type": "client_credentials"}, service)
    assert_oauth_error(old, "invalid_client", 401)
    await client_credentials(http, rotated)


async def test_secret_rotation_without_overlap_ends_the_old_secret(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    await client_credentials(http, service)
    await container.clients.rotate_secret(service.client_id, CLI)
    old = await token_request(http, {"grant_type": "client_credentials"}, service)
    assert_oauth_error(old, "invalid_client", 401)


@sqlite_only
async def test_grant_the_client_may_not_use_is_unauthorized_client(
    http: httpx.AsyncClient, webapp: Registered
) -> None:
    """§5.2 ``unauthorized_client`` (400): the web app is registered for the code flow
    only, so it may not ask for client credentials."""
    response = await token_request(http, {"grant_type": "client_credentials"}, webapp)
    assert_oauth_error(response, "unauthorized_client", 400)


# -- client credentials: scope and audience ---------------------------------------------


@sqlite_only
async def test_client_credentials_response(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """§4.4.3 / §5.1: access token, Bearer type, lifetime, no refresh token; the token is an
    RFC 9068 JWT for the client itself."""
    body = await client_credentials(http, service, scope="orders:read")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "refresh_token" not in body
    claims = await verify_jwt(
        http, body["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert claims["sub"] == claims["client_id"] == service.client_id
    assert claims["scope"] == "orders:read"


@sqlite_only
async def test_unknown_scope_is_invalid_scope(http: httpx.AsyncClient, service: Registered) -> None:
    """§5.2 ``invalid_scope``: the API has no such permission."""
    form = {"grant_type": "client_credentials", "scope": "orders:read orders:teleport"}
    response = await token_request(http, form, service)
    assert_oauth_error(response, "invalid_scope", 400)


@sqlite_only
async def test_openid_scope_needs_a_user(http: httpx.AsyncClient, service: Registered) -> None:
    """OpenID Connect scopes describe a user; client credentials have none."""
    response = await token_request(
        http, {"grant_type": "client_credentials", "scope": "openid"}, service
    )
    assert_oauth_error(response, "invalid_scope", 400)


async def test_held_subset_is_granted_and_the_response_says_so(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """§3.3: the server may grant less than asked and then must say what it granted; the
    client holds orders:read, not orders:write."""
    body = await client_credentials(http, service, scope="orders:read orders:write")
    assert body["scope"] == "orders:read"
    claims = await verify_jwt(
        http, body["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert claims["scope"] == "orders:read"


@sqlite_only
async def test_scope_the_client_may_not_request_is_invalid_scope(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """Spec §1: scopes outside the client's registered list are refused, not dropped."""
    await container.clients.update(service.client_id, CLI, scopes=["orders:read"])
    response = await token_request(
        http, {"grant_type": "client_credentials", "scope": "orders:write"}, service
    )
    assert_oauth_error(response, "invalid_scope", 400)


@sqlite_only
async def test_default_scope_is_what_the_client_holds(
    http: httpx.AsyncClient, service: Registered
) -> None:
    """§3.3: with no scope asked for, the server uses a default and says which."""
    body = await client_credentials(http, service)
    assert body["scope"] == "orders:read"


async def test_resource_selects_the_audience(
    http: httpx.AsyncClient, container: Container, service: Registered
) -> None:
    """RFC 8707 §2: ``resource`` names the API; the token's ``aud`` is that API, and the
    scope is checked against that API's permissions."""
    body = await client_credentials(http, service, resource=BILLING)
    claims = await verify_jwt(
        http, body["access_token"], audience=BILLING, issuer=container.settings.issuer
    )
    assert claims["aud"] == BILLING
    assert body["scope"] == "invoices:read"
    default = await client_credentials(http, service)
    claims = await verify_jwt(
        http, default["access_token"], audience=ORDERS, issuer=container.settings.issuer
    )
    assert claims["aud"] == ORDERS
    wrong_api = await token_request(
        http,
        {"grant_type": "client_credentials", "resource": BILLING, "scope": "orders:read"},
        service,
    )
    assert_oauth_error(wrong_api, "invalid_scope", 400)


@pytest.mark.parametrize(
    "resource",
    ["https://unknown.example.com", "https://orders.example.com#frag"],
    ids=["unknown-api", "fragment"],
)
@sqlite_only
async def test_bad_resource_is_invalid_target(
    http: httpx.AsyncClient, service: Registered, resource: str
) -> None:
    """RFC 8707 §2: ``invalid_target`` (400) for a resource the server does not know or
    that is not an absolute URI without a fragment."""
    response = await token_request(
        http, {"grant_type": "client_credentials", "resource": resource}, service
    )
    assert_oauth_error(response, "invalid_target", 400)


@sqlite_only
async def test_resource_the_client_may_not_use_is_invalid_target(
    http: httpx.AsyncClient, resource_server: Registered
) -> None:
    """RFC 8707 §2: the API exists, but this client is registered for the orders API only."""
    response = await token_request(
        http, {"grant_type": "client_credentials", "resource": BILLING}, resource_server
    )
    assert_oauth_error(response, "invalid_target", 400)


# -- the error object -------------------------------------------------------------------

#: RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


@sqlite_only
@pytest.mark.parametrize(
    ("path", "form"),
    [
        pytest.param(TOKEN, {"scope": "orders:read"}, id="missing-grant-type"),
        pytest.param(
            TOKEN,
            {"grant_type": "client_credentials", "scope": "orders:teleport"},
            id="unknown-scope",
        ),
        pytest.param(
            TOKEN,
            {"grant_type": "client_credentials", "client_secret": "x"},
            id="two-auth-methods",
        ),
        pytest.param(
            TOKEN,
            {"grant_type": "client_credentials", "scope": 'orders:read "quoted'},
            id="bad-scope-token",
        ),
        pytest.param(
            TOKEN,
            {"grant_type": "pässword"},
            id="non-ascii-grant-type",
        ),
        pytest.param(
            TOKEN,
            {"grant_type": "client_credentials", "resource": ORDERS + "#x"},
            id="resource-fragment",
        ),
        pytest.param(
            INTROSPECT,
            {"token_type_hint": "access_token"},
            id="introspect-without-token",
        ),
        pytest.param(
            REVOKE,
            {"token_type_hint": "access_token"},
            id="revoke-without-token",
        ),
    ],
)
async def test_error_description_characters(
    http: httpx.AsyncClient,
    service: Registered,
    path: str,
    form: dict[str, str],
) -> None:
    """§5.2: "Values for the error_description parameter MUST NOT include characters
    outside the set %x20-21 / %x23-5B / %x5D-7E" (no non-ASCII such as "§", no quote, no
    backslash); the same rule holds for RFC 7009 and RFC 7662, which use §5.2's errors."""
    response = await http.post(path, data=form, auth=service.basic)
    assert response.status_code == 400
    description = response.json()["error_description"]
    assert set(description) <= DESCRIPTION_CHARS, description
