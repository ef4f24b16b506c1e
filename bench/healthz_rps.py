"""Throughput of the cheapest endpoints under load: ``wrk`` against /healthz and the JWKS.

/healthz touches nothing but the HTTP stack, so it shows the ceiling of one server process;
/.well-known/jwks.json adds the signing-key lookup and JSON rendering. wrk runs on the same
machine as the server, so both share its CPUs.

    .venv/bin/python bench/healthz_rps.py [--duration 10] [--connections 50] [--json]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
from common import (
    RunningServer,
    bounded_int,
    describe_machine,
    format_table,
    machine,
    run_script,
)

PATHS = ("/healthz", "/.well-known/jwks.json")
MAX_DURATION_S = 60
ALLOWED_HOST = "127.0.0.1"
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
AMOUNT = r"([\d.]+)(us|ms|s|m|h)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=bounded_int(1, MAX_DURATION_S),
        default=10,
        help=f"seconds of load per endpoint, at most {MAX_DURATION_S} (10)",
    )
    parser.add_argument(
        "--connections", type=bounded_int(1, 1_000), default=50, help="open connections (50)"
    )
    parser.add_argument("--threads", type=bounded_int(1, 64), default=2, help="wrk threads (2)")
    parser.add_argument(
        "--warmup-seconds",
        type=bounded_int(0, 10),
        default=2,
        help="untimed wrk run before each measured one (2)",
    )


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
    result["socket_errors"] = sum(int(n) for n in errors.groups()) if errors else 0
    return result


def run_wrk(url: str, duration: int, connections: int, threads: int) -> str:
    """Run wrk once against a loopback URL and return its report."""
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
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done.stdout


def measure(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    host = machine()
    endpoints = []
    for path in PATHS:
        url = server.url + path
        status = httpx.get(url, timeout=10).status_code
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        if args.warmup_seconds:
            run_wrk(url, args.warmup_seconds, args.connections, args.threads)
        report = run_wrk(url, args.duration, args.connections, args.threads)
        endpoints.append({"path": path, **parse_wrk(report)})
    return {
        "url": server.url,
        "machine": host,
        "duration_s": args.duration,
        "connections": args.connections,
        "threads": min(args.threads, args.connections),
        "endpoints": endpoints,
    }


def render(result: dict[str, Any]) -> str:
    rows = []
    for e in result["endpoints"]:
        bad = e["non_2xx_3xx"] + e["socket_errors"]
        rows.append(
            [
                e["path"],
                e["requests_per_s"],
                e.get("latency_p50_ms", float("nan")),
                e.get("latency_p90_ms", float("nan")),
                e.get("latency_p99_ms", float("nan")),
                e.get("latency_max_ms", float("nan")),
                bad,
            ]
        )
    header = (
        f"wrk -t{result['threads']} -c{result['connections']} -d{result['duration_s']}s "
        f"--latency against {result['url']} (wrk on the same machine)\n"
        + describe_machine(result["machine"])
    )
    table = format_table(
        ["endpoint", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"], rows
    )
    return header + "\n" + table


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__.split("\n\n")[0], add_arguments, measure, render, argv)


if __name__ == "__main__":
    sys.exit(main())
