"""Shared pieces of the benchmarks: a real ``authgate serve`` with production settings.

The server gets a fresh temporary data directory initialised with ``authgate init --demo``.
Unlike the test suite, no ``[passwords]`` table is written, so passwords are hashed with the
production argon2id cost (``PasswordSettings`` defaults). Login rate limits are switched off
(``AUTHGATE_RATE_LIMITS=off``) so repeated logins measure the work, not the throttle.

Run the scripts from the repository root with the virtualenv's interpreter, e.g.
``.venv/bin/python bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argon2  # noqa: E402

from authgate.settings import CONFIG_FILE_NAME, PasswordSettings  # noqa: E402
from tests.support.server import RunningServer, authgate, running_server  # noqa: E402

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
SERVER_ENV = {"AUTHGATE_RATE_LIMITS": "off"}


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def production(cls) -> Argon2Params:
        """The defaults of ``PasswordSettings``: what a deployment uses unless configured."""
        s = PasswordSettings()
        return cls(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)

    @classmethod
    def from_hash(cls, encoded: str) -> Argon2Params:
        p = argon2.extract_parameters(encoded)
        return cls(p.memory_cost, p.time_cost, p.parallelism)

    def hasher(self) -> argon2.PasswordHasher:
        return argon2.PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=argon2.Type.ID,
        )

    def describe(self) -> str:
        return f"argon2id m={self.memory_kib} KiB, t={self.time_cost}, p={self.parallelism}"

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def benchmark_server() -> Iterator[RunningServer]:
    """Initialise a fresh data directory and run ``authgate serve`` on a free loopback port.

    The server process (started and stopped by its own PID) is terminated on the way out,
    whether the benchmark finished, failed, was interrupted with Ctrl-C or sent SIGTERM.
    """
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="authgate-bench-") as tmp:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            admin_password = secrets.token_urlsafe(18)
            authgate(
                data_dir,
                "init",
                "--demo",
                "--admin-password-stdin",
                stdin=admin_password + "\n",
                env=SERVER_ENV,
            )
            config = (data_dir / CONFIG_FILE_NAME).read_text()
            if "[passwords]" in config:
                raise RuntimeError("the benchmark data dir must use the production argon2 cost")
            with running_server(data_dir, env=SERVER_ENV) as server:
                yield server
    finally:
        signal.signal(signal.SIGTERM, previous)


def stored_hash_params(server: RunningServer, username: str = DEMO_USERNAME) -> Argon2Params:
    """The argon2 parameters of ``username``'s stored hash, read from the server's SQLite
    database (read-only). The server rehashes on login when its configured cost differs, so
    after a login this is the cost the server actually uses."""
    db_path = server.data_dir / "authgate.db"
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    if row is None or not row[0]:
        raise RuntimeError(f"no password hash stored for {username!r}")
    return Argon2Params.from_hash(row[0])


def machine() -> dict[str, Any]:
    """CPU count and load averages: figures taken on a busy machine are not comparable."""
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1m": load[0], "loadavg_5m": load[1]}


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cpus']} CPUs, load average {info['loadavg_1m']:.2f} (1 min) "
        f"{info['loadavg_5m']:.2f} (5 min) at the start"
    )


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of already sorted values (``pct`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summarize_ms(samples_s: Sequence[float]) -> dict[str, Any]:
    """Count, mean, p50/p95/p99 and max, in milliseconds, of durations given in seconds."""
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "count": len(ms),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
    }


def bounded_int(low: int, high: int) -> Any:
    """An argparse ``type`` accepting integers in ``low..high``."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    parse.__name__ = f"integer in {low}..{high}"
    return parse


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def run_script(
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    measure: Callable[[RunningServer, argparse.Namespace], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    argv: list[str] | None = None,
) -> int:
    """The shared ``main`` of a benchmark script: parse flags, measure one server, print."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with benchmark_server() as server:
        result = measure(server, args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0
