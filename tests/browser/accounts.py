"""Who the browser tests sign in as: the demo user, or accounts made for one test."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.support.server import RunningServer


@dataclass(frozen=True)
class Account:
    username: str
    password: str


DEMO = Account("demo", "demo-password")


def create_account(server: RunningServer, prefix: str) -> Account:
    """A user of its own (made through the CLI) for a test that changes account state."""
    account = Account(f"{prefix}-{secrets.token_hex(3)}", "pw-" + secrets.token_hex(10))
    server.cli(
        "user", "create", account.username, "--password-stdin", stdin=account.password + "\n"
    )
    return account


class AccountPool:
    """Accounts created in the background as soon as the server is up: each CLI run costs
    a couple of seconds of interpreter start-up, which the first tests hide."""

    def __init__(self, server: RunningServer, prefixes: list[str]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=len(prefixes))
        self._pending = {p: self._executor.submit(create_account, server, p) for p in prefixes}

    def take(self, prefix: str) -> Account:
        return self._pending.pop(prefix).result(timeout=120)

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._executor.shutdown(wait=True)
