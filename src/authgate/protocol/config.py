"""The engine's own settings, taken from :class:`authgate.settings.Settings` by the
composition root (the engine does not read the global settings object)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class EngineConfig:
    issuer: str
    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    refresh_token_absolute_ttl: timedelta = timedelta(days=90)
    id_token_ttl: timedelta = timedelta(hours=1)
    code_ttl: timedelta = timedelta(seconds=60)
    access_token_alg: str = "ES256"
    id_token_alg: str = "RS256"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def admin_audience(self) -> str:
        """AuthGate's own API (spec §4)."""
        return self.issuer + "/admin"
