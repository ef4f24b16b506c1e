"""Fixtures for the browser tests: a real ``authgate serve`` and a headless chromium per
module, and a fresh browser context (no cookies) for every test.

The browser is module-scoped so Playwright's own event loop is gone before the asyncio
tests of other folders run on pytest-asyncio's session loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import off_the_event_loop
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
    off_the_event_loop(init_data_dir, data_dir, demo=True)
    with running_server(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
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
