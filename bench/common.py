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
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argon2  # noqa: E402
import httpx  # noqa: E402

from authgate.settings import CONFIG_FILE_NAME, PasswordSettings  # noqa: E402
from tests.support.server import (  # noqa: E402
    RunningServer,
    authgate,
    running_server,
)
from tests.support.server import cli_env as cli_env  # noqa: E402  (re-exported)
from tests.support.server import free_port as free_port  # noqa: E402  (re-exported)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
SERVER_ENV = {"AUTHGATE_RATE_LIMITS": "off"}
MAX_DURATION_S = 60
ALLOWED_HOST = "127.0.0.1"
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
AMOUNT = r"([\d.]+)(us|ms|s|m|h)"


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
def sigterm_raises_system_exit() -> Iterator[None]:
    """Within the block SIGTERM raises ``SystemExit``, so ``finally`` clauses stop servers."""
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def add_wrk_arguments(parser: argparse.ArgumentParser, each: str) -> None:
    """``--duration``, ``--connections``, ``--threads`` and ``--warmup-seconds``: how a
    script drives wrk (``each`` says what one connections value runs)."""
    parser.add_argument(
        "--duration",
        type=bounded_int(1, MAX_DURATION_S),
        default=10,
        help=f"seconds of load per run, at most {MAX_DURATION_S} (10)",
    )
    parser.add_argument(
        "--connections",
        type=bounded_int(1, 1_000),
        nargs="+",
        default=[16, 64],
        help=f"open connections, {each} (16 64)",
    )
    parser.add_argument("--threads", type=bounded_int(1, 64), default=2, help="wrk threads (2)")
    parser.add_argument(
        "--warmup-seconds",
        type=bounded_int(0, 10),
        default=2,
        help="untimed wrk run before each measured one (2)",
    )


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


def _to_ms(value: str, unit: str) -> float:
    return float(value) * UNIT_MS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """The figures of one ``wrk --latency`` report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in " + AMOUNT, output, re.M)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    result: dict[str, Any] = {
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "seconds": _to_ms(total.group(2), total.group(3)) / 1000,
    }
    stats = re.search(rf"^\s*Latency\s+{AMOUNT}\s+{AMOUNT}\s+{AMOUNT}", output, re.M)
    if stats is not None:
        result["latency_avg_ms"] = _to_ms(stats.group(1), stats.group(2))
        result["latency_stdev_ms"] = _to_ms(stats.group(3), stats.group(4))
        result["latency_max_ms"] = _to_ms(stats.group(5), stats.group(6))
    for pct, value, unit in re.findall(rf"^\s*(\d+)%\s+{AMOUNT}\s*$", output, re.M):
        result[f"latency_p{pct}_ms"] = _to_ms(value, unit)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx_3xx"] = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    kinds = ("connect", "read", "write", "timeout")
    detail = dict(zip(kinds, (int(n) for n in errors.groups()), strict=True)) if errors else {}
    result["socket_errors"] = sum(detail.values())
    result["socket_errors_detail"] = detail
    return result


def run_wrk(
    url: str,
    duration: int,
    connections: int,
    threads: int,
    *,
    script: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run wrk once against a loopback URL and return its report.

    ``script`` is a wrk Lua script (``-s``); ``env`` is added to wrk's environment, where
    such a script can read it with ``os.getenv``."""
    if urlsplit(url).hostname != ALLOWED_HOST:
        raise ValueError(f"refusing to load anything but {ALLOWED_HOST}: {url}")
    if not 1 <= duration <= MAX_DURATION_S:
        raise ValueError(f"duration must be 1..{MAX_DURATION_S} seconds")
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    command = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        *(["-s", str(script)] if script is not None else []),
        url,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done.stdout


@dataclass
class Service:
    """A server process started by a benchmark, in its own process group."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self, tail: int = 4_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it forked.

    SIGTERM to the PID first (uvicorn and the node cluster stop their own workers), then,
    after ``grace_s``, SIGKILL to the PID's process group: the group only holds what this
    process started, since the session was created for it."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            break  # nothing of the group is left
        os.killpg(process.pid, sig)
        time.sleep(1)
    if process.poll() is None:
        process.kill()
    process.wait(10)


@contextmanager
def service(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    ready_path: str,
    ready_text: str,
    ready_count: int = 1,
    cwd: Path | None = None,
    timeout_s: float = 60,
) -> Iterator[Service]:
    """Run ``command`` (a server on 127.0.0.1:``port``) until the block ends.

    It counts as started when ``GET ready_path`` answers (any status below 500) and its log
    holds ``ready_text`` at least ``ready_count`` times (one line per worker, so that no
    load starts before every worker accepts connections). Stopped by :func:`stop_process`,
    also on error."""
    url = f"http://{ALLOWED_HOST}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Service(name, url, process, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{running.log()}")
            try:
                answered = httpx.get(url + ready_path, timeout=2).status_code < 500
            except httpx.HTTPError:
                answered = False
            if answered and running.log(tail=10**9).count(ready_text) >= ready_count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in {timeout_s:.0f} s:\n{running.log()}")
            time.sleep(0.2)
        yield running
    finally:
        stop_process(process)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def process_group(pgid: int) -> set[int]:
    """The live processes of process group ``pgid`` (Linux /proc)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid:
                members.add(int(entry.name))
    return members


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each process that still exists."""
    used = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def cpu_used_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two :func:`cpu_seconds` snapshots (a process that appeared in
    between counts from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
