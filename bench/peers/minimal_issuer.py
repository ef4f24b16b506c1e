"""The ceiling for client_credentials: check Basic auth, sign an ES256 JWT, respond.

Nothing is stored and nothing is looked up: one client, its secret known only as a SHA-256
digest and compared in constant time. Configured by the environment (the benchmark sets it):
MINIMAL_ISSUER, MINIMAL_AUDIENCE, MINIMAL_SCOPE, MINIMAL_CLIENT_ID, MINIMAL_SECRET_SHA256
(hex) and MINIMAL_JWK (a private EC P-256 JWK as JSON, so that every worker signs with the
same key). Run with ``uvicorn minimal_issuer:app --app-dir bench/peers --workers N``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = os.environ["MINIMAL_ISSUER"]
AUDIENCE = os.environ["MINIMAL_AUDIENCE"]
SCOPE = os.environ.get("MINIMAL_SCOPE", "")
CLIENT_ID = os.environ["MINIMAL_CLIENT_ID"]
SECRET_SHA256 = bytes.fromhex(os.environ["MINIMAL_SECRET_SHA256"])
KEY = ECKey.import_key(json.loads(os.environ["MINIMAL_JWK"]))
HEADER = {"typ": "at+jwt", "alg": "ES256", "kid": KEY.kid}
TTL_S = 900
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error(code: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status, headers=NO_STORE)


def client_ok(authorization: str) -> bool:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return False
    digest = hashlib.sha256(secret.encode()).digest()
    return hmac.compare_digest(digest, SECRET_SHA256) and client_id == CLIENT_ID


async def token(request: Request) -> JSONResponse:
    if not client_ok(request.headers.get("authorization", "")):
        return error("invalid_client", 401)
    form = dict(parse_qsl((await request.body()).decode()))
    if form.get("grant_type") != "client_credentials":
        return error("unsupported_grant_type")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": CLIENT_ID,
        "aud": AUDIENCE,
        "client_id": CLIENT_ID,
        "iat": now,
        "exp": now + TTL_S,
        "jti": secrets.token_urlsafe(16),
        "scope": SCOPE,
    }
    body = {
        "access_token": jwt.encode(HEADER, claims, KEY),
        "token_type": "Bearer",
        "expires_in": TTL_S,
        "scope": SCOPE,
    }
    return JSONResponse(body, headers=NO_STORE)


app = Starlette(routes=[Route("/token", token, methods=["POST"])])
