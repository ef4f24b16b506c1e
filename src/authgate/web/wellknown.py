"""JWKS (RFC 7517) and the discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414).

The discovery document is a first cut; the OAuth provider fills in its endpoints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from authgate.protocol.client_auth import ASSERTION_ALGORITHMS
from authgate.web.authorize import END_SESSION_PATH, USERINFO_PATH
from authgate.web.deps import container_of
from authgate.web.fastpath import INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH
from authgate.web.flow import AUTHORIZE_PATH
from authgate.web.revocation_feed import FEED_PATH

router = APIRouter()
JWKS_PATH = "/.well-known/jwks.json"


@router.get(JWKS_PATH, include_in_schema=False)
async def jwks(request: Request) -> JSONResponse:
    container = container_of(request)
    max_age = int(container.settings.jwks_max_age.total_seconds())
    return JSONResponse(
        await container.keys.jwks(),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )


def discovery_document(issuer: str, grant_types: tuple[str, ...]) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 and RFC 8414 §2 metadata."""
    auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "userinfo_endpoint": issuer + USERINFO_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + INTROSPECT_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "revocation_feed_endpoint": issuer + FEED_PATH,
        "end_session_endpoint": issuer + END_SESSION_PATH,
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(grant_types),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "amr",
            "nonce",
            "preferred_username",
            "email",
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


@router.get("/.well-known/openid-configuration", include_in_schema=False)
@router.get("/.well-known/oauth-authorization-server", include_in_schema=False)
async def discovery(request: Request) -> JSONResponse:
    container = container_of(request)
    document = discovery_document(container.settings.issuer, container.oauth.grant_types)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
