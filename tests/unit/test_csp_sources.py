"""The client origins a login or consent page lets its form lead to (CSP Level 3
``form-action``, which Chromium applies to the redirects after a submission)."""

from __future__ import annotations

from authgate.web.flow import csp_sources


def test_web_client_origin_keeps_scheme_host_and_port() -> None:
    assert csp_sources(["https://app.example.com/cb", "https://app.example.com:8443/x"]) == [
        "https://app.example.com",
        "https://app.example.com:8443",
    ]


def test_loopback_redirects_allow_any_port() -> None:
    """RFC 8252 §7.3: a native app's loopback redirect may use any port."""
    assert csp_sources(["http://127.0.0.1/cb", "http://[::1]:8000/cb"]) == [
        "http://127.0.0.1:*",
        "http://[::1]:*",
    ]


def test_private_use_scheme_allows_the_scheme() -> None:
    """RFC 8252 §7.1: ``com.example.app:/callback`` becomes the scheme source."""
    assert csp_sources(["com.example.app:/callback"]) == ["com.example.app:"]


def test_nothing_that_could_break_out_of_the_policy() -> None:
    assert csp_sources(["https://a.example;script-src *", "https://x y.example/"]) == []
    assert csp_sources([]) == []
