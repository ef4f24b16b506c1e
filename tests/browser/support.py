"""Who the browser tests sign in as, and how they run CLI commands next to Playwright."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from tests.support.server import RunningServer

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    username: str
    password: str


DEMO = Account("demo", "demo-password")


def off_the_event_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function`` in a worker thread and wait for it.

    Playwright's sync API keeps its event loop marked as running in the test's thread,
    and the CLI helpers may run the CLI in this process (``asyncio.run``), which refuses
    to start there. One call at a time: an in-process CLI swaps standard input and the
    environment, so it must never run twice at once.
    """
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(function, *args, **kwargs).result()


def create_account(server: RunningServer, prefix: str) -> Account:
    """A user of its own (made through the CLI) for a test that changes account state."""
    account = Account(f"{prefix}-{secrets.token_hex(3)}", "pw-" + secrets.token_hex(10))
    off_the_event_loop(
        server.cli,
        "user",
        "create",
        account.username,
        "--password-stdin",
        stdin=account.password + "\n",
    )
    return account
