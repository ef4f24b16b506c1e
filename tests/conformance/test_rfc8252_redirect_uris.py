"""Redirect URI matching: exact (RFC 9700 §4.1.3), loopback port may vary (RFC 8252 §7.3)."""

from __future__ import annotations

import pytest

from authgate.protocol.redirect_uris import matches

REGISTERED = ["https://app.example.com/cb", "http://127.0.0.1/callback", "com.example.app:/oauth"]


@pytest.mark.parametrize(
    "given",
    [
        "https://app.example.com/cb",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:51234/callback",
        "com.example.app:/oauth",
    ],
)
def test_accepted(given: str) -> None:
    assert matches(REGISTERED, given)


@pytest.mark.parametrize(
    "given",
    [
        "https://app.example.com/cb/",
        "https://APP.example.com/cb",
        "https://app.example.com/CB",
        "https://app.example.com/cb?x=1",
        "https://app.example.com:8443/cb",
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",
        "http://127.0.0.1:51234/other",
        "http://localhost:51234/callback",
        "http://127.0.0.1:notaport/callback",
        "https://app.example.com.evil.example/cb",
    ],
    ids=[
        "trailing-slash",
        "host-case",
        "path-case",
        "extra-query",
        "other-port",
        "fragment",
        "http",
        "loopback-other-path",
        "localhost-name",
        "bad-port",
        "suffix-host",
    ],
)
def test_refused(given: str) -> None:
    assert not matches(REGISTERED, given)
