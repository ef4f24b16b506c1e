"""Throughput of the cheapest endpoints under load: ``wrk`` against /healthz and the JWKS.

/healthz touches nothing but the HTTP stack, so it shows the ceiling of one server process;
/.well-known/jwks.json adds the signing-key lookup and JSON rendering. wrk runs on the same
machine as the server, so both share its CPUs.

    .venv/bin/python bench/healthz_rps.py [--duration 10] [--connections 50] [--json]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx
from common import (
    MAX_DURATION_S,
    RunningServer,
    bounded_int,
    describe_machine,
    format_table,
    machine,
    parse_wrk,
    run_script,
    run_wrk,
)

PATHS = ("/healthz", "/.well-known/jwks.json")


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
