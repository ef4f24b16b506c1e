"""The entry point uvicorn workers import: settings from the environment and config file."""

from __future__ import annotations

from authgate import logs
from authgate.settings import load_settings
from authgate.web.app import AuthGateApp, create_app


def create() -> AuthGateApp:
    settings = load_settings()
    logs.configure(settings.log_level)
    return create_app(settings)
