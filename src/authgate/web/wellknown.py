"""JWKS (RFC 7517) and the discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414).

The discovery document is a first cut; the OAuth provider fills in its endpoints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from authgate.keys.service import ALGORITHMS
from authgate.web.deps import container_of

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


def discovery_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "subject_types_supported": ["public"],
    }


@router.get("/.well-known/openid-configuration", include_in_schema=False)
@router.get("/.well-known/oauth-authorization-server", include_in_schema=False)
async def discovery(request: Request) -> JSONResponse:
    issuer = container_of(request).settings.issuer
    return JSONResponse(
        discovery_document(issuer), headers={"Cache-Control": "public, max-age=300"}
    )
