"""Interop: Authlib's OAuth 2.0 client (httpx, sync) against a running ``authgate serve``,
with no AuthGate-specific code on the client side; access tokens checked with PyJWT's
``PyJWKClient`` against the published JWKS."""

from __future__ import annotations

import secrets
import warnings
from typing import Any

import httpx
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata

with warnings.catch_warnings():
    # Recent Authlib prefers the httpx2 package and warns when it falls back to httpx,
    # which is what this project uses.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from tests.interop.conftest import (
    API_AUDIENCE,
    REDIRECT_URI,
    USER_SCOPE,
    USERNAME,
    InteropServer,
    introspect,
    sign_in_and_consent,
    verify_access_token,
    verify_id_token,
)

pytestmark = pytest.mark.slow


def test_discovery_metadata_passes_authlib_validation(interop_server: InteropServer) -> None:
    """OpenID Connect Discovery 1.0 §3 / RFC 8414 §2, as Authlib's validator reads them."""
    metadata = OpenIDProviderMetadata(interop_server.metadata)
    metadata.validate()
    assert metadata["issuer"] == interop_server.url
    assert "S256" in metadata["code_challenge_methods_supported"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(interop_server: InteropServer, auth_method: str) -> None:
    name = "service-basic" if auth_method == "client_secret_basic" else "service-post"
    registered = interop_server.clients[name]
    with OAuth2Client(
        registered.client_id,
        registered.client_secret,
        token_endpoint_auth_method=auth_method,
        scope="orders:read orders:write",
    ) as oauth:
        token = oauth.fetch_token(
            interop_server.metadata["token_endpoint"],
            grant_type="client_credentials",
            resource=API_AUDIENCE,
        )
        assert token["token_type"].lower() == "bearer"
        # Effective scope: the client holds orders:read only, and the response says so.
        assert token["scope"] == "orders:read"
        assert "refresh_token" not in token  # RFC 6749 §4.4.3
        claims = verify_access_token(
            interop_server, token["access_token"], client_id=registered.client_id
        )
        assert claims["sub"] == registered.client_id
        assert claims["scope"] == "orders:read"

        # The library's own introspection call, with the same client authentication.
        answer = oauth.introspect_token(
            interop_server.metadata["introspection_endpoint"],
            token=token["access_token"],
            token_type_hint="access_token",
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["active"] is True
        assert body["client_id"] == registered.client_id
        assert body["aud"] == API_AUDIENCE


def test_client_credentials_wrong_secret_is_an_oauth_error(interop_server: InteropServer) -> None:
    registered = interop_server.clients["service-basic"]
    with (
        OAuth2Client(registered.client_id, "not-the-secret") as oauth,
        pytest.raises(OAuthError) as info,
    ):
        oauth.fetch_token(
            interop_server.metadata["token_endpoint"], grant_type="client_credentials"
        )
    assert info.value.error == "invalid_client"


def _authorize(
    interop_server: InteropServer, oauth: OAuth2Client, verifier: str, nonce: str
) -> tuple[dict[str, Any], list[str]]:
    url, state = oauth.create_authorization_url(
        interop_server.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = sign_in_and_consent(url)
    params = callback.params
    assert params["state"] == state
    assert params["iss"] == interop_server.issuer  # RFC 9207
    token = oauth.fetch_token(
        interop_server.metadata["token_endpoint"],
        authorization_response=callback.url,
        state=state,
        code_verifier=verifier,
    )
    return token, callback.pages


def test_authorization_code_pkce_refresh_and_revocation(interop_server: InteropServer) -> None:
    registered = interop_server.clients["web-authlib"]
    token_endpoint = interop_server.metadata["token_endpoint"]
    with OAuth2Client(
        registered.client_id,
        registered.client_secret,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uri=REDIRECT_URI,
        scope=USER_SCOPE,
        code_challenge_method="S256",
    ) as oauth:
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        token, pages = _authorize(interop_server, oauth, verifier, nonce)
        assert pages == ["login", "consent"]
        assert set(token["scope"].split()) == set(USER_SCOPE.split())
        claims = verify_access_token(
            interop_server, token["access_token"], client_id=registered.client_id
        )
        id_claims = verify_id_token(
            interop_server,
            token["id_token"],
            client_id=registered.client_id,
            nonce=nonce,
            access_token=token["access_token"],
        )
        assert claims["sub"] == id_claims["sub"]
        assert "pwd" in id_claims["amr"]
        assert id_claims["preferred_username"] == USERNAME

        # The library attaches its current access token as a Bearer token.
        userinfo = oauth.get(interop_server.metadata["userinfo_endpoint"])
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["sub"] == claims["sub"]

        # Refresh: rotation gives a new refresh token, and Authlib keeps it.
        first_refresh = token["refresh_token"]
        refreshed = oauth.refresh_token(token_endpoint)
        assert refreshed["refresh_token"] != first_refresh
        assert oauth.token["refresh_token"] == refreshed["refresh_token"]
        new_claims = verify_access_token(
            interop_server, refreshed["access_token"], client_id=registered.client_id
        )
        assert new_claims["sub"] == claims["sub"]
        assert new_claims["jti"] != claims["jti"]
        # The spent refresh token is no longer live.
        assert introspect(interop_server, registered, first_refresh) == {"active": False}

        live = oauth.introspect_token(
            interop_server.metadata["introspection_endpoint"], token=refreshed["refresh_token"]
        ).json()
        assert live["active"] is True and live["token_type"] == "refresh_token"

        # RFC 7009: revoking the refresh token ends its grant, access tokens included.
        answer = oauth.revoke_token(
            interop_server.metadata["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert answer.status_code == 200, answer.text
        for revoked in (refreshed["refresh_token"], refreshed["access_token"]):
            after = oauth.introspect_token(
                interop_server.metadata["introspection_endpoint"], token=revoked
            )
            assert after.status_code == 200
            assert after.json() == {"active": False}
        # And the library sees the refresh fail as an OAuth error.
        with pytest.raises(OAuthError) as info:
            oauth.refresh_token(token_endpoint, refresh_token=refreshed["refresh_token"])
        assert info.value.error == "invalid_grant"


def test_access_token_revocation(interop_server: InteropServer) -> None:
    """RFC 7009 on a JWT access token: its ``jti`` is denied until it expires."""
    registered = interop_server.clients["service-basic"]
    with OAuth2Client(registered.client_id, registered.client_secret) as oauth:
        token = oauth.fetch_token(
            interop_server.metadata["token_endpoint"], grant_type="client_credentials"
        )
        answer = oauth.revoke_token(
            interop_server.metadata["revocation_endpoint"],
            token=token["access_token"],
            token_type_hint="access_token",
        )
        assert answer.status_code == 200, answer.text
        after = oauth.introspect_token(
            interop_server.metadata["introspection_endpoint"], token=token["access_token"]
        )
        assert after.json() == {"active": False}


def test_public_client_authorization_code_pkce_and_refresh(
    interop_server: InteropServer,
) -> None:
    """A public client (``token_endpoint_auth_method=none``): PKCE carries the proof."""
    registered = interop_server.clients["spa-authlib"]
    assert registered.client_secret is None
    with OAuth2Client(
        registered.client_id,
        token_endpoint_auth_method="none",
        redirect_uri=REDIRECT_URI,
        scope="openid offline_access orders:read",
        code_challenge_method="S256",
    ) as oauth:
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        token, pages = _authorize(interop_server, oauth, verifier, nonce)
        assert pages == ["login", "consent"]
        assert token["scope"].split() == ["openid", "offline_access", "orders:read"]
        verify_access_token(interop_server, token["access_token"], client_id=registered.client_id)
        verify_id_token(
            interop_server, token["id_token"], client_id=registered.client_id, nonce=nonce
        )
        refreshed = oauth.refresh_token(interop_server.metadata["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        verify_access_token(
            interop_server, refreshed["access_token"], client_id=registered.client_id
        )
        answer = oauth.revoke_token(
            interop_server.metadata["revocation_endpoint"], token=refreshed["refresh_token"]
        )
        assert answer.status_code == 200, answer.text
        # The resource-server view: the revoked grant's access token is inactive.
        service = interop_server.clients["service-basic"]
        assert introspect(interop_server, service, refreshed["access_token"]) == {"active": False}


def test_pkce_verifier_is_enforced_for_authlib_flow(interop_server: InteropServer) -> None:
    """The same flow with the wrong verifier fails as ``invalid_grant`` (RFC 7636 §4.6)."""
    registered = interop_server.clients["web-authlib"]
    with OAuth2Client(
        registered.client_id,
        registered.client_secret,
        redirect_uri=REDIRECT_URI,
        scope="openid orders:read",
        code_challenge_method="S256",
    ) as oauth:
        url, state = oauth.create_authorization_url(
            interop_server.metadata["authorization_endpoint"],
            code_verifier=secrets.token_urlsafe(48),
        )
        callback = sign_in_and_consent(url)
        with pytest.raises(OAuthError) as info:
            oauth.fetch_token(
                interop_server.metadata["token_endpoint"],
                authorization_response=callback.url,
                state=state,
                code_verifier=secrets.token_urlsafe(48),
            )
        assert info.value.error == "invalid_grant"


def test_userinfo_rejects_a_revoked_token(interop_server: InteropServer) -> None:
    registered = interop_server.clients["web-authlib"]
    with OAuth2Client(
        registered.client_id,
        registered.client_secret,
        redirect_uri=REDIRECT_URI,
        scope="openid profile",
        code_challenge_method="S256",
    ) as oauth:
        verifier = secrets.token_urlsafe(48)
        token, _ = _authorize(interop_server, oauth, verifier, secrets.token_urlsafe(8))
        # openid without an API: the token is for the UserInfo endpoint.
        verify_access_token(
            interop_server,
            token["access_token"],
            client_id=registered.client_id,
            audience=interop_server.issuer + "/userinfo",
        )
        oauth.revoke_token(
            interop_server.metadata["revocation_endpoint"], token=token["access_token"]
        )
        response = httpx.get(
            interop_server.metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
