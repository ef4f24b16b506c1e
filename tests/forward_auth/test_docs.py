"""docs/forward-auth.md shows the nginx and Caddy configurations the end-to-end tests run,
word for word (tests/e2e/test_proxies.py fills in the same files)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["nginx.conf", "Caddyfile"])
def test_the_documented_proxy_configuration_is_the_tested_one(name: str) -> None:
    tested = (ROOT / "examples" / "orders_api" / name).read_text().rstrip("\n")
    documented = (ROOT / "docs" / "forward-auth.md").read_text()
    assert f"\n{tested}\n```" in documented


def test_the_documented_rules_are_valid(tmp_path: Path) -> None:
    from authgate.settings import load_settings

    documented = (ROOT / "docs" / "forward-auth.md").read_text()
    toml = documented.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "authgate.toml").write_text(toml)
    settings = load_settings(data_dir=tmp_path)
    assert [r.path for r in settings.forward_auth.routes] == ["/health", "/orders/{order_id}"]
