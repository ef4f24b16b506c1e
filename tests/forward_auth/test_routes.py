"""Route rules (PRODUCT §6): how they are written and checked at start-up, and which rule
a request matches (RFC 3986 §3.3 paths, percent-decoded; ambiguity refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate.errors import ConfigurationError, InvalidInput
from authgate.forwardauth.routes import (
    AmbiguousPath,
    RouteTable,
    normalise_host,
    rule,
    split_path,
)
from authgate.settings import load_settings

TABLE = RouteTable(
    [
        rule("/health", public=True),
        rule("/orders", host="API.example.com", methods=["get", "HEAD"], permission="orders:read"),
        rule(
            "/orgs/{org}/projects/{project}",
            permission="projects:read",
            resource="org:{org}/project:{project}",
        ),
        rule("/orders/{id}", permission="orders:read", resource="order:{id}"),
        rule("/orders/{id}", permission="orders:admin"),  # never reached: the one above wins
        rule("/files/{name}/raw", methods=["GET"], public=True),
    ]
)


@pytest.mark.parametrize(
    ("method", "host", "uri", "index", "resource"),
    [
        ("GET", None, "/health", 0, None),
        ("POST", "any.example", "/health?x=1#f", 0, None),
        ("GET", "api.example.com", "/orders", 1, None),
        ("HEAD", "api.example.com", "/orders?page=2", 1, None),
        ("GET", None, "/orgs/acme/projects/42", 2, "org:acme/project:42"),
        ("GET", None, "/orders/A-1", 3, "order:A-1"),
        ("DELETE", None, "/orders/%41-1", 3, "order:A-1"),  # decoded before matching
        ("GET", None, "/files/r%C3%A9sum%C3%A9.pdf/raw", 5, None),
    ],
)
def test_the_first_matching_rule_is_found(
    method: str, host: str | None, uri: str, index: int, resource: str | None
) -> None:
    found = TABLE.match(method, host, split_path(uri))
    assert found is not None and found.index == index
    assert found.resource == resource


@pytest.mark.parametrize(
    ("method", "host", "uri"),
    [
        ("GET", None, "/orders"),  # the rule names a host
        ("GET", "other.example.com", "/orders"),
        ("POST", "api.example.com", "/orders"),
        ("GET", None, "/orders/"),  # {param} never matches an empty segment
        ("GET", None, "/orders/1/2"),  # nor more than one
        ("GET", None, "/health/"),
        ("GET", None, "//health"),
        ("POST", None, "/files/a/raw"),
    ],
)
def test_no_rule_matches(method: str, host: str | None, uri: str) -> None:
    assert TABLE.match(method, host, split_path(uri)) is None


@pytest.mark.parametrize(
    "uri",
    [
        "/a/../b",
        "/a/./b",
        "/a/%2E%2E/b",
        "/a/%2e/b",
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a\\b",
        "/a;b",
        "/a%3Bb",
        "/a%",
        "/a%4",
        "/a%g0",
        "/a%C3",  # a truncated UTF-8 sequence
        "/a%00",
        "/a\x01",
        "a/b",
        "",
        "*",
    ],
)
def test_ambiguous_paths_are_refused(uri: str) -> None:
    with pytest.raises(AmbiguousPath):
        split_path(uri)


def test_a_parameter_that_cannot_be_part_of_a_resource_path_is_refused() -> None:
    with pytest.raises(AmbiguousPath):
        TABLE.match("GET", None, split_path("/orders/a%20b"))


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("API.Example.COM", "api.example.com"),
        ("api.example.com:8443", "api.example.com"),
        ("api.example.com.", "api.example.com"),
        ("[::1]:8080", "[::1]"),
    ],
)
def test_hosts_are_compared_without_case_or_port(given: str, host: str) -> None:
    assert normalise_host(given) == host


@pytest.mark.parametrize(
    ("written", "complaint"),
    [
        ({"path": "/a"}, "exactly one of permission or public"),
        ({"path": "/a", "permission": "a:read", "public": True}, "exactly one"),
        ({"path": "a", "permission": "a:read"}, "must start with /"),
        ({"path": "/a/{x}", "permission": "a:read", "resource": "a:{y}"}, "does not define"),
        ({"path": "/a/x{y}", "permission": "a:read"}, "whole {param}"),
        ({"path": "/a/{x}/{x}", "permission": "a:read"}, "twice"),
        ({"path": "/a/%2F", "permission": "a:read"}, "whole {param}"),
        ({"path": "/a/..", "permission": "a:read"}, "whole {param}"),
        ({"path": "/a", "permission": "read"}, "resource:action"),
        ({"path": "/a/{x}", "permission": "a:read", "resource": "{x}"}, "type:id"),
        ({"path": "/a/{x}", "public": True, "resource": "a:{x}"}, "public route"),
        ({"path": "/a", "permission": "a:read", "host": "a b"}, "host name"),
        ({"path": "/a", "permission": "a:read", "methods": []}, "method names"),
        ({"path": "/a", "permission": "a:read", "methods": ["GE T"]}, "method names"),
    ],
)
def test_bad_rules_are_refused_saying_why(written: dict[str, Any], complaint: str) -> None:
    path = written.pop("path")
    with pytest.raises(InvalidInput, match=complaint.replace("{", r"\{").replace("}", r"\}")):
        rule(path, **written)


def test_the_config_file_rules_are_checked_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "authgate.toml").write_text(
        """
[forward_auth]
cache_ttl = "2s"

[[forward_auth.routes]]
path = "/orders/{order_id}"
permission = "orders:read"
resource = "order:{id}"
"""
    )
    with pytest.raises(ConfigurationError) as raised:
        load_settings(data_dir=tmp_path)
    message = str(raised.value)
    assert "forward_auth.routes.0" in message and "{id}" in message


def test_a_valid_config_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "authgate.toml").write_text(
        """
[forward_auth]
cache_ttl = "2s"
cache_max_entries = 100

[[forward_auth.routes]]
host = "api.example.com"
methods = ["GET", "HEAD"]
path = "/orders/{order_id}"
permission = "orders:read"
audience = "https://orders.example.com"
resource = "order:{order_id}"

[[forward_auth.routes]]
path = "/health"
public = true
"""
    )
    settings = load_settings(data_dir=tmp_path)
    assert settings.forward_auth.cache_ttl.total_seconds() == 2
    assert [r.path for r in settings.forward_auth.routes] == ["/orders/{order_id}", "/health"]


@pytest.mark.parametrize("ttl", ["-1s", "10m"])
def test_the_cache_lifetime_is_bounded(tmp_path: Path, ttl: str) -> None:
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        load_settings(data_dir=tmp_path, forward_auth={"cache_ttl": ttl})
