"""RFC 8414 (authorization server metadata) and OpenID Connect Discovery 1.0 §3–4: the
fields a standard client library needs, consistent with what the server does, and every
advertised endpoint present."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from authgate.container import Container
from tests.conformance.conftest import sqlite_only

OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"

# The metadata is built from settings, not storage: one database is enough.
pytestmark = [sqlite_only]


async def _metadata(http: httpx.AsyncClient, path: str = OIDC) -> dict[str, Any]:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


async def test_both_documents_describe_the_issuer(
    http: httpx.AsyncClient, container: Container
) -> None:
    """RFC 8414 §3 / Discovery §4: the well-known documents; §3.3 / §4.3: ``issuer`` is
    identical to the issuer the server uses (and puts in tokens)."""
    oidc = await _metadata(http, OIDC)
    oauth = await _metadata(http, RFC8414)
    assert oidc == oauth
    assert oidc["issuer"] == container.settings.issuer


async def test_required_and_profile_fields(http: httpx.AsyncClient, container: Container) -> None:
    """RFC 8414 §2 and Discovery §3, with the profile the issue asks for: code flow only,
    S256 only, no password or implicit grant, ``iss`` in responses (RFC 9207 §3)."""
    document = await _metadata(http)
    issuer = container.settings.issuer
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert document[name].startswith(issuer + "/"), name
    assert document["response_types_supported"] == ["code"]
    assert document.get("response_modes_supported", ["query"]) == ["query"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    grants = set(document["grant_types_supported"])
    assert {"authorization_code", "client_credentials", "refresh_token"} <= grants
    assert not grants & {"password", "implicit"}
    assert document["subject_types_supported"] == ["public"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert "openid" in document["scopes_supported"]
    assert "offline_access" in document["scopes_supported"]
    assert set(document["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert document["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize(
    "endpoint", ["token_endpoint", "introspection_endpoint", "revocation_endpoint"]
)
async def test_signing_algorithms_accompany_private_key_jwt(
    http: httpx.AsyncClient, endpoint: str
) -> None:
    """RFC 8414 §2: ``<endpoint>_auth_signing_alg_values_supported`` "MUST be present if"
    ``private_key_jwt`` is among the endpoint's auth methods, and must not list "none"."""
    document = await _metadata(http)
    methods = document[f"{endpoint}_auth_methods_supported"]
    assert "private_key_jwt" in methods
    algorithms = document.get(f"{endpoint}_auth_signing_alg_values_supported")
    assert algorithms, f"{endpoint}_auth_signing_alg_values_supported is missing"
    assert "none" not in algorithms


@pytest.mark.parametrize(
    ("field", "method"),
    [
        ("authorization_endpoint", "GET"),
        ("token_endpoint", "POST"),
        ("userinfo_endpoint", "GET"),
        ("jwks_uri", "GET"),
        ("introspection_endpoint", "POST"),
        ("revocation_endpoint", "POST"),
        ("end_session_endpoint", "GET"),
    ],
    ids=lambda value: value,
)
async def test_every_advertised_endpoint_answers(
    http: httpx.AsyncClient, field: str, method: str
) -> None:
    """Each URL in the metadata is served (not 404/405), and answers an empty request
    with a client error, not a crash (spec §4: a 5xx is always a bug)."""
    document = await _metadata(http)
    path = urlsplit(document[field]).path
    response = await http.request(method, path)
    assert response.status_code not in (404, 405), (field, response.status_code)
    assert response.status_code < 500, (field, response.status_code, response.text[:300])


async def test_jwks_publishes_public_signing_keys(
    http: httpx.AsyncClient, container: Container
) -> None:
    """RFC 7517 §5: a JWK Set; every key has kid, alg and use=sig, and no private part;
    the algorithms the server signs with (ES256 access tokens, RS256 ID tokens) are
    there."""
    document = await _metadata(http)
    jwks = (await http.get(urlsplit(document["jwks_uri"]).path)).json()
    keys = jwks["keys"]
    assert {"ES256", "RS256"} <= {key["alg"] for key in keys}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
