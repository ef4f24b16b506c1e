"""Master-key sealing and keyed digests."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from authgate.digests import Digester, new_secret
from authgate.errors import ConfigurationError
from authgate.keys.master import MasterKey


def test_seal_round_trip_and_purpose_binding() -> None:
    key = MasterKey(secrets.token_bytes(32))
    sealed = key.seal(b"private key bytes", "signing-key")
    assert b"private key bytes" not in sealed
    assert key.open(sealed, "signing-key") == b"private key bytes"
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        key.open(sealed, "totp-secret")


def test_another_master_key_cannot_open() -> None:
    sealed = MasterKey(secrets.token_bytes(32)).seal(b"x", "p")
    with pytest.raises(ConfigurationError, match="master key differs"):
        MasterKey(secrets.token_bytes(32)).open(sealed, "p")


def test_master_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = MasterKey.load_or_create(tmp_path, None, create=True)
    assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0
    again = MasterKey.load_or_create(tmp_path, None, create=False)
    assert first.derive("x") == again.derive("x")
    assert "hidden" in repr(first)


def test_missing_master_key_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="authgate init"):
        MasterKey.load_or_create(tmp_path, None, create=False)


def test_short_master_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="32 random bytes"):
        MasterKey.from_text("c2hvcnQ")


def test_digests_are_keyed() -> None:
    one, two = Digester(b"k" * 32), Digester(b"j" * 32)
    secret = new_secret("ags")
    assert secret.startswith("ags_") and len(secret) > 40
    assert one.matches(secret, one.digest(secret))
    assert not two.matches(secret, one.digest(secret))
