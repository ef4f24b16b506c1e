"""The Flask decorator in front of a small Flask API, with tokens and API keys from a real
``authgate serve``: RFC 6750 §3 answers and the claims in ``flask.g``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from authgate_sdk import Claims, TokenVerifier
from authgate_sdk.flask import require
from flask import Flask, g
from flask.testing import FlaskClient

from tests.sdk.live import ORDERS, Live


def orders_app(verifier: TokenVerifier | None) -> Flask:
    app = Flask("orders")
    if verifier is not None:
        app.extensions["authgate"] = verifier

    @app.get("/orders")
    @require("orders:read")
    def list_orders() -> dict[str, object]:
        claims: Claims = g.claims
        return {"subject": claims.subject, "kind": claims.kind, "scopes": sorted(claims.scopes)}

    @app.delete("/orders/<order_id>")
    @require("orders:write")
    def delete_order(order_id: str) -> dict[str, str]:
        return {"deleted": order_id}

    return app


@pytest.fixture
def verifier(live_sqlite: Live) -> Iterator[TokenVerifier]:
    found = TokenVerifier(
        live_sqlite.url,
        ORDERS,
        client_id=live_sqlite.orders_api.client_id,
        client_secret=live_sqlite.orders_api.secret,
    )
    yield found
    found.close()


@pytest.fixture
def client(verifier: TokenVerifier) -> FlaskClient:
    return orders_app(verifier).test_client()


def test_valid_token(client: FlaskClient, live_sqlite: Live) -> None:
    response = client.get(
        "/orders", headers={"Authorization": f"Bearer {live_sqlite.client_token()}"}
    )
    assert response.status_code == 200, response.text
    assert response.json == {
        "subject": live_sqlite.service.client_id,
        "kind": "jwt",
        "scopes": ["orders:read"],
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["none", "basic", "empty-bearer"],
)
def test_no_token(client: FlaskClient, headers: dict[str, str]) -> None:
    """RFC 6750 §3.1: no credential, a challenge with no error code."""
    response = client.get("/orders", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{ORDERS}"'


def test_invalid_token(client: FlaskClient, live_sqlite: Live) -> None:
    token = live_sqlite.client_token()
    response = client.get("/orders", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{ORDERS}", error="invalid_token"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json is not None and response.json["error"] == "invalid_token"
    assert "signature" not in response.text


def test_insufficient_scope(client: FlaskClient, live_sqlite: Live) -> None:
    token = live_sqlite.client_token()
    response = client.delete("/orders/42", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{ORDERS}", error="insufficient_scope", scope="orders:write"'
    )


def test_api_key_in_x_api_key(client: FlaskClient, live_sqlite: Live) -> None:
    created = live_sqlite.api_key("--user", "ursula", "--permission", "orders:read")
    response = client.get("/orders", headers={"X-API-Key": created["key"]})
    assert response.status_code == 200, response.text
    assert response.json is not None and response.json["kind"] == "api_key"
    assert response.json["subject"] == "u-ursula"


def test_issuer_unreachable_is_503() -> None:
    verifier = TokenVerifier("http://127.0.0.1:9", ORDERS)
    client = orders_app(verifier).test_client()
    token = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.e30.c2ln"
    response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    verifier.close()


def test_without_a_verifier_is_a_programming_error() -> None:
    app = orders_app(None)
    app.testing = True
    with pytest.raises(RuntimeError, match="authgate"):
        app.test_client().get("/orders", headers={"Authorization": "Bearer x"})
