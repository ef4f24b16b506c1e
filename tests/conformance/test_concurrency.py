"""Single use under concurrency: RFC 6749 §4.1.2 (a code is used once) and RFC 9700
§4.14.2 (a rotated refresh token is used once), with 50 simultaneous requests through the
in-process app, on SQLite and PostgreSQL (the ``container`` fixture runs both)."""

from __future__ import annotations

import asyncio

import httpx

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
)

ATTEMPTS = 50


def _exactly_one_winner(responses: list[httpx.Response]) -> None:
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 1, sorted(statuses)
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant", 400)


async def test_concurrent_code_redemptions(
    browser: Browser, webapp: Registered, alice: str
) -> None:
    pkce = Pkce.new()
    params = code_request(webapp, WEB_REDIRECT, "openid orders:read", pkce)
    code = redirect_params(await browser.authorize(params), WEB_REDIRECT)["code"]
    responses = await asyncio.gather(
        *(redeem(browser.http, webapp, code, WEB_REDIRECT, pkce.verifier) for _ in range(ATTEMPTS))
    )
    _exactly_one_winner(list(responses))


async def test_concurrent_refreshes(browser: Browser, webapp: Registered, alice: str) -> None:
    tokens = await code_flow(browser, webapp, WEB_REDIRECT, "orders:read")
    responses = await asyncio.gather(
        *(refresh(browser.http, webapp, tokens["refresh_token"]) for _ in range(ATTEMPTS))
    )
    _exactly_one_winner(list(responses))
