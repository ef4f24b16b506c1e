"""RFC 7636 (PKCE), S256 only: the pure checks. End-to-end cases live in
test_rfc6749_authorization_code.py."""

from __future__ import annotations

import pytest

from authgate.protocol import pkce
from authgate.protocol.errors import InvalidGrant, InvalidRequest


def test_appendix_b_example_vector() -> None:
    """RFC 7636 Appendix B: the verifier and challenge of the worked example."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    pkce.verify("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier)


def test_plain_is_refused() -> None:
    """§4.2 allows plain; RFC 9700 §2.1.1 says use S256, so AuthGate refuses plain."""
    with pytest.raises(InvalidRequest, match="S256"):
        pkce.check_challenge("x" * 43, "plain", required=False)
    with pytest.raises(InvalidRequest, match="S256"):
        pkce.check_challenge("x" * 43, None, required=False)  # §4.3: absent method = plain


def test_required_for_public_clients() -> None:
    with pytest.raises(InvalidRequest, match="required"):
        pkce.check_challenge(None, None, required=True)
    assert pkce.check_challenge(None, None, required=False) is None


@pytest.mark.parametrize(
    ("challenge", "verifier", "message"),
    [
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None, "required"),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "a" * 43, "does not match"),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "short", "malformed"),
        (None, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "no challenge"),
    ],
    ids=["missing-verifier", "wrong-verifier", "malformed-verifier", "downgrade"],
)
def test_verifier_failures_are_invalid_grant(
    challenge: str | None, verifier: str | None, message: str
) -> None:
    """§4.6: a failed check answers invalid_grant (status 400)."""
    with pytest.raises(InvalidGrant, match=message) as info:
        pkce.verify(challenge, verifier)
    assert info.value.error == "invalid_grant" and info.value.status == 400
