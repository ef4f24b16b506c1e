"""Signing keys: sealed at rest, published before they sign, kept until their tokens expire
(spec §5; RFC 7517 for the JWK Set)."""

from __future__ import annotations

from datetime import timedelta

import jwt as pyjwt
from sqlalchemy import select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from authgate.storage.models import SigningKeyRow


def _kids(jwks: dict[str, list[dict[str, str]]], alg: str) -> set[str]:
    return {k["kid"] for k in jwks["keys"] if k["alg"] == alg}


async def test_private_keys_are_sealed_at_rest(container: Container) -> None:
    async with container.db.transaction() as session:
        rows = list((await session.execute(select(SigningKeyRow))).scalars())
    assert {r.alg for r in rows} == {"ES256", "RS256", "EdDSA"}
    for row in rows:
        assert b'"d"' not in row.private_enc and b"PRIVATE" not in row.private_enc
        assert "d" not in row.public_jwk


async def test_signature_verifies_with_published_key_in_another_jose_library(
    container: Container,
) -> None:
    """A token signed with the stored key verifies with PyJWT from the JWKS alone."""
    from joserfc import jwt

    for alg in ("ES256", "RS256", "EdDSA"):
        kid, key = await container.keys.signing_key(alg)
        token = jwt.encode(
            {"alg": alg, "kid": kid}, {"sub": "alice", "iss": "test"}, key, algorithms=[alg]
        )
        jwks = await container.keys.jwks()
        public = next(k for k in jwks["keys"] if k["kid"] == kid)
        verifier = pyjwt.PyJWK(public)
        claims = pyjwt.decode(token, verifier.key, algorithms=[alg])
        assert claims["sub"] == "alice"


async def test_rotation_publishes_before_signing_and_retires_after_tokens_expire(
    container: Container, clock: FrozenClock
) -> None:
    old_kid, _ = await container.keys.signing_key("ES256")
    new = {i.alg: i for i in await container.keys.rotate(CLI)}
    jwks = await container.keys.jwks()
    # Published at once, next to the old key ...
    assert _kids(jwks, "ES256") == {old_kid, new["ES256"].kid}
    # ... but the old key keeps signing until the propagation delay has passed.
    assert (await container.keys.signing_key("ES256"))[0] == old_kid
    clock.advance(container.settings.key_propagation + timedelta(seconds=1))
    assert (await container.keys.signing_key("ES256"))[0] == new["ES256"].kid
    # The retired key stays published while tokens it signed may still be alive ...
    assert old_kid in _kids(await container.keys.jwks(), "ES256")
    clock.advance(container.settings.max_token_ttl - timedelta(seconds=5))
    assert old_kid in _kids(await container.keys.jwks(), "ES256")
    # ... and is withdrawn once they have all expired.
    clock.advance(timedelta(seconds=10))
    assert _kids(await container.keys.jwks(), "ES256") == {new["ES256"].kid}


async def test_immediate_rotation_signs_at_once(container: Container) -> None:
    old_kid, _ = await container.keys.signing_key("RS256")
    new = {i.alg: i for i in await container.keys.rotate(CLI, immediate=True)}
    assert (await container.keys.signing_key("RS256"))[0] == new["RS256"].kid
    assert old_kid in _kids(await container.keys.jwks(), "RS256")


async def test_rotation_is_audited(container: Container) -> None:
    await container.keys.rotate(CLI)
    recent = await container.audit.recent(3)
    assert {e.tag for e in recent} == {"key:rotated"}
