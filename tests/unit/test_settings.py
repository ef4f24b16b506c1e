"""The settings object: file, environment, validation messages (spec §3)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from authgate.durations import format_duration, parse_duration
from authgate.errors import ConfigurationError
from authgate.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("AUTHGATE_"):
            monkeypatch.delenv(key)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("90d", 7776000), (" 5m ", 300), (45, 45)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1w", "-5m", "0s", "1.5h", "15 minutes"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "15m", "12h", "90d", "90s"):
        assert format_duration(parse_duration(text)) == text


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.issuer == "http://127.0.0.1:8080"
    assert settings.access_token_ttl == timedelta(minutes=15)
    assert settings.refresh_token_ttl == timedelta(days=30)
    assert settings.rate_limits.enabled
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'authgate.db').resolve()}"


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "authgate.toml").write_text(
        'issuer = "https://auth.example.com"\naccess_token_ttl = "5m"\n\n'
        "[rate_limits]\nlogin_failures_per_account = 3\n"
    )
    settings = load_settings(data_dir=tmp_path)
    assert settings.issuer == "https://auth.example.com"
    assert settings.access_token_ttl == timedelta(minutes=5)
    monkeypatch.setenv("AUTHGATE_ACCESS_TOKEN_TTL", "1m")
    monkeypatch.setenv("AUTHGATE_RATE_LIMITS", "off")
    settings = load_settings(data_dir=tmp_path)
    assert settings.access_token_ttl == timedelta(minutes=1)
    # The on/off switch merges with the file's table instead of replacing it.
    assert settings.rate_limits.enabled is False
    assert settings.rate_limits.login_failures_per_account == 3


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.issuer = "https://x.example"  # type: ignore[misc]


def test_secrets_are_hidden_in_repr(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, master_key="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
    )
    assert "c2VjcmV0" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "not a url"}, "issuer: issuer 'not a url' is not an http(s) URL"),
        ({"issuer": "http://auth.example.com"}, "use https"),
        ({"issuer": "https://auth.example.com/?x=1"}, "query or fragment"),
        ({"database_url": "mysql://x/y"}, "unsupported database"),
        ({"redis_url": "http://x"}, "redis://"),
        ({"access_token_ttl": "forever"}, "access_token_ttl"),
        ({"log_level": "loud"}, "log_level"),
    ],
    ids=["not-url", "plain-http", "query", "database", "redis", "ttl", "log-level"],
)
def test_invalid_settings_are_named(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(data_dir=tmp_path, **overrides)
    assert message in info.value.message


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "authgate.toml").write_text('isuer = "https://typo.example"\n')
    with pytest.raises(ConfigurationError, match="isuer"):
        load_settings(data_dir=tmp_path)


def test_malformed_config_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "authgate.toml").write_text("issuer = \n")
    with pytest.raises(ConfigurationError, match="invalid configuration"):
        load_settings(data_dir=tmp_path)


def test_key_propagation_must_outlast_jwks_caching(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="key_propagation must exceed jwks_max_age"):
        load_settings(data_dir=tmp_path, key_propagation="5m", jwks_max_age="5m")


def test_password_bounds_must_agree(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="min_length is larger"):
        load_settings(data_dir=tmp_path, passwords={"min_length": 100, "max_length": 64})
