"""Who may hold a token for AuthGate's own API (spec §4).

The admin API asks the engine at each object's scope, not the token's scope (which carries
only what is held at ``/``), so a user's token for it carries all their administrative
power. On a user's behalf only a first-party client may ask for one (RFC 8707 §2:
``invalid_target`` otherwise): a third-party application the user signs in to must not
administer AuthGate as the user. A client's own (client-credentials) token is fine: it
acts as itself, with its own bindings.
"""

from __future__ import annotations

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from tests.conformance.conftest import (
    WEB_REDIRECT,
    Browser,
    Pkce,
    Registered,
    assert_oauth_error,
    code_flow,
    code_request,
    redeem,
    redirect_params,
    refresh,
    token_request,
)

pytestmark = pytest.mark.usefixtures("apis")


@pytest.fixture
async def root_admin(container: Container, alice: str) -> str:
    """alice administers everything (``authgate-admin`` at ``/``)."""
    await container.access.create_role(CLI, "authgate-admin", ["*"])
    await container.access.bind(CLI, "authgate-admin", "user:alice", "/")
    return alice


async def _web_client(
    container: Container, *, first_party: bool, audiences: list[str] | None
) -> Registered:
    client, secret = await container.clients.create(
        CLI,
        name="Portal",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        redirect_uris=[WEB_REDIRECT],
        audiences=audiences or [],
        first_party=first_party,
    )
    return Registered(client.client_id, secret)


async def test_a_third_party_client_cannot_act_for_a_user_on_the_admin_api(
    http: httpx.AsyncClient, container: Container, browser: Browser, root_admin: str
) -> None:
    """Registered for the audience or not: the consent screen would show only ``openid``
    while the token would carry the user's whole administrative power."""
    admin_api = container.oauth.config.admin_audience
    for audiences in ([admin_api], []):
        portal = await _web_client(container, first_party=False, audiences=audiences)
        params = code_request(portal, WEB_REDIRECT, "openid", Pkce.new(), resource=admin_api)
        answer = redirect_params(await browser.authorize(params), WEB_REDIRECT)
        assert answer["error"] == "invalid_target"
        assert "code" not in answer
    # Its own client-credentials token is fine: it acts as itself, with its own bindings.
    form = {"grant_type": "client_credentials", "resource": admin_api}
    own = await token_request(http, form, portal)
    assert own.status_code == 200, own.text
    listed = await http.get(
        "/admin/v1/users", headers={"Authorization": f"Bearer {own.json()['access_token']}"}
    )
    assert listed.status_code == 403, "the client holds no admin permission of its own"


async def test_a_first_party_client_acts_for_the_user_until_it_is_no_longer_first_party(
    http: httpx.AsyncClient, container: Container, browser: Browser, root_admin: str
) -> None:
    admin_api = container.oauth.config.admin_audience
    tool = await _web_client(container, first_party=True, audiences=[admin_api])
    tokens = await code_flow(
        browser, tool, WEB_REDIRECT, "openid offline_access", resource=admin_api
    )
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await http.get("/admin/v1/users", headers=bearer)).status_code == 200
    assert browser.pages[-1] != "/oauth/consent", "first party: no consent screen"

    await container.clients.update(tool.client_id, CLI, first_party=False)
    again = await refresh(http, tool, tokens["refresh_token"])
    assert_oauth_error(again, "invalid_target", 400)


async def test_a_code_issued_while_first_party_is_not_redeemed_after(
    http: httpx.AsyncClient, container: Container, browser: Browser, root_admin: str
) -> None:
    """The check is made again when the code is redeemed (RFC 6749 §4.1.3), not only when
    it is issued: demoting the client closes the 60-second window too."""
    admin_api = container.oauth.config.admin_audience
    tool = await _web_client(container, first_party=True, audiences=[admin_api])
    pkce = Pkce.new()
    params = code_request(tool, WEB_REDIRECT, "openid", pkce, resource=admin_api)
    answer = redirect_params(await browser.authorize(params), WEB_REDIRECT)
    await container.clients.update(tool.client_id, CLI, first_party=False)
    redeemed = await redeem(http, tool, answer["code"], WEB_REDIRECT, pkce.verifier)
    assert_oauth_error(redeemed, "invalid_target", 400)
