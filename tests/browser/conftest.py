"""Fixtures for the browser tests: one real ``authgate serve`` per module, one headless
chromium per run, and a fresh browser context (no cookies) for every test."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.accounts import Account
from tests.support.server import CHROMIUM, RunningServer, init_data_dir, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the demo user, shared by the tests of one module.

    Every failed login from the browser counts against the one loopback address (20
    failures before the per-address lockout), so tests that fail on purpose use a few.
    """
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    init_data_dir(data_dir, demo=True)
    with running_server(data_dir) as running:
        yield running


@pytest.fixture
def new_account(server: RunningServer) -> Callable[[str], Account]:
    """Creates a user of its own (through the CLI) for a test that changes account state."""

    def create(prefix: str) -> Account:
        account = Account(f"{prefix}-{secrets.token_hex(3)}", "pw-" + secrets.token_hex(10))
        server.cli(
            "user", "create", account.username, "--password-stdin", stdin=account.password + "\n"
        )
        return account

    return create


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Imported here so that collecting this folder never needs Playwright; the test
    # modules skip themselves when it or chromium is missing.
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, server: RunningServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url)
    ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
