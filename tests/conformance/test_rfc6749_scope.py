"""RFC 6749 §3.3 scope syntax and the product's effective-scope rule (spec §1)."""

from __future__ import annotations

import pytest

from authgate.protocol import scopes
from authgate.protocol.errors import InvalidScope


def test_parse_dedupes_and_keeps_order() -> None:
    assert scopes.parse("b a  b") == ["b", "a"]


@pytest.mark.parametrize("bad", ['a"b', "a\\b", "é"])
def test_bad_scope_tokens(bad: str) -> None:
    with pytest.raises(InvalidScope) as info:
        scopes.parse(bad)
    assert info.value.error == "invalid_scope" and info.value.status == 400


def test_unknown_scope_is_refused_held_subset_granted() -> None:
    held = frozenset({"orders:read", "invoices:*"})
    api = ["orders:read", "orders:write", "invoices:send"]
    granted = scopes.effective(
        ["orders:read", "orders:write", "invoices:send"],
        api_permissions=api,
        client_scopes=[],
        held=held,
        allow_oidc=False,
    )
    assert granted == ["orders:read", "invoices:send"]
    with pytest.raises(InvalidScope):
        scopes.effective(
            ["orders:delete"], api_permissions=api, client_scopes=[], held=held, allow_oidc=False
        )
    with pytest.raises(InvalidScope):
        scopes.effective(
            ["orders:read"],
            api_permissions=api,
            client_scopes=["orders:write"],
            held=held,
            allow_oidc=False,
        )
    with pytest.raises(InvalidScope):
        scopes.effective(
            ["openid"], api_permissions=api, client_scopes=[], held=held, allow_oidc=False
        )
