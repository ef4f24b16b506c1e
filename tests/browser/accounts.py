"""Who the browser tests sign in as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    username: str
    password: str


DEMO = Account("demo", "demo-password")
