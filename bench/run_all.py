"""Run every AuthGate benchmark against one fresh server and print a summary.

    .venv/bin/python bench/run_all.py [--quick] [--json]   (or: make bench)

The login benchmark runs first (sequential requests), then wrk loads /healthz and the JWKS;
the server is started once with production password hashing and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import healthz_rps
import login_latency
from common import benchmark_server, describe_machine, format_table, machine

QUICK = {"gets": 50, "posts": 10, "hash_runs": 3, "duration": 3, "warmup_seconds": 1}


def summary(login: dict[str, Any], load: dict[str, Any]) -> str:
    a = login["argon2_in_process"]
    rows: list[list[object]] = [
        [
            "GET /login p50 / p95",
            f"{login['get_login']['p50_ms']:.2f} / {login['get_login']['p95_ms']:.2f} ms",
        ],
        [
            "POST /login p50 / p95",
            f"{login['post_login']['p50_ms']:.1f} / {login['post_login']['p95_ms']:.1f} ms",
        ],
        ["argon2id hash (in-process, median)", f"{a['hash_median_ms']:.1f} ms"],
    ]
    for e in load["endpoints"]:
        rows.append(
            [
                f"{e['path']} throughput",
                f"{e['requests_per_s']:,.0f} req/s"
                f" (p99 {e.get('latency_p99_ms', float('nan')):.1f} ms)",
            ]
        )
    return format_table(["summary", "value"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    login_latency.add_arguments(parser)
    healthz_rps.add_arguments(parser)
    parser.add_argument(
        "--quick", action="store_true", help="small counts and 3 s wrk runs, for a smoke test"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)

    host = machine()
    started = time.monotonic()
    with benchmark_server() as server:
        login = login_latency.measure(server, args)
        load = healthz_rps.measure(server, args)
    result = {
        "machine": host,
        "seconds": round(time.monotonic() - started, 1),
        "login": login,
        "load": load,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(login_latency.render(login))
    print()
    print(healthz_rps.render(load))
    print()
    print(summary(login, load))
    print(f"\n{describe_machine(host)}; {result['seconds']} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
