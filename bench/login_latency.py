"""Latency of the login page: GET /login, and POST /login with the demo credentials.

A correct POST /login verifies the password with argon2id at the production cost, which
dominates its latency; for comparison the script also times ``argon2.PasswordHasher.hash``
(and ``verify``) with the same parameters in this process.

    .venv/bin/python bench/login_latency.py [--gets 200] [--posts 50] [--json]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from typing import Any

import httpx
from common import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Argon2Params,
    RunningServer,
    bounded_int,
    describe_machine,
    format_table,
    machine,
    run_script,
    stored_hash_params,
    summarize_ms,
)

CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
SESSION_COOKIE = "authgate_session"  # the name over plain http (loopback issuer)
LOGIN_TARGET = "/account"
REQUEST_TIMEOUT_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gets", type=bounded_int(1, 100_000), default=200, help="GET /login requests (200)"
    )
    parser.add_argument(
        "--posts", type=bounded_int(1, 10_000), default=50, help="POST /login requests (50)"
    )
    parser.add_argument(
        "--warmup-requests",
        type=bounded_int(0, 1_000),
        default=5,
        help="untimed requests before each measured series (5)",
    )
    parser.add_argument(
        "--time-limit",
        type=bounded_int(1, 3_600),
        default=180,
        help="seconds each series may take at most; it stops early after that (180)",
    )
    parser.add_argument(
        "--hash-runs",
        type=bounded_int(1, 100),
        default=5,
        help="in-process argon2 hash/verify repetitions (5)",
    )


def _client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S, follow_redirects=False)


def _timed_series(count: int, time_limit: float, request: Any) -> tuple[list[float], bool]:
    """Call ``request()`` up to ``count`` times or until ``time_limit`` seconds have passed;
    return the durations and whether the series was cut short."""
    samples: list[float] = []
    deadline = time.monotonic() + time_limit
    for _ in range(count):
        if time.monotonic() > deadline:
            return samples, True
        start = time.perf_counter()
        request()
        samples.append(time.perf_counter() - start)
    return samples, False


def measure_get(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    with _client(server) as client:

        def get_login() -> None:
            response = client.get("/login")
            if response.status_code != 200:
                raise RuntimeError(f"GET /login answered {response.status_code}")

        for _ in range(args.warmup_requests):
            get_login()
        samples, truncated = _timed_series(args.gets, args.time_limit, get_login)
    return {**summarize_ms(samples), "requested": args.gets, "truncated": truncated}


def measure_post(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    with _client(server) as client:
        form = client.get("/login")
        if form.status_code != 200:
            raise RuntimeError(f"GET /login answered {form.status_code}")
        found = CSRF_FIELD.search(form.text)
        if found is None or "authgate_csrf" not in client.cookies:
            raise RuntimeError("GET /login gave no CSRF token and cookie")
        data = {
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
            "csrf_token": found.group(1),
            "next": LOGIN_TARGET,
        }

        def post_login() -> None:
            response = client.post("/login", data=data)
            if response.status_code != 303 or SESSION_COOKIE not in response.cookies:
                raise RuntimeError(
                    f"POST /login answered {response.status_code} "
                    f"(expected 303 with a session cookie): {response.text[:200]!r}"
                )
            # Every login starts without a session, like a browser signing in afresh.
            client.cookies.delete(SESSION_COOKIE)

        for _ in range(args.warmup_requests):
            post_login()
        samples, truncated = _timed_series(args.posts, args.time_limit, post_login)
    return {**summarize_ms(samples), "requested": args.posts, "truncated": truncated}


def measure_argon2(params: Argon2Params, runs: int) -> dict[str, Any]:
    """Time ``PasswordHasher.hash`` and ``verify`` in this process with ``params``."""
    hasher = params.hasher()
    hash_ms: list[float] = []
    verify_ms: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        encoded = hasher.hash(DEMO_PASSWORD)
        hash_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hasher.verify(encoded, DEMO_PASSWORD)
        verify_ms.append((time.perf_counter() - start) * 1000)
    return {
        "runs": runs,
        "first_hash_ms": hash_ms[0],
        "hash_median_ms": statistics.median(hash_ms),
        "hash_min_ms": min(hash_ms),
        "verify_median_ms": statistics.median(verify_ms),
    }


def measure(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    host = machine()
    get = measure_get(server, args)
    post = measure_post(server, args)
    production = Argon2Params.production()
    # Read after the logins: the server rehashes on login if its configured cost differs.
    in_use = stored_hash_params(server)
    return {
        "url": server.url,
        "machine": host,
        "get_login": get,
        "post_login": post,
        "argon2_params_in_use": in_use.as_dict(),
        "argon2_params_production": production.as_dict(),
        "argon2_production_cost": in_use == production,
        "argon2_in_process": measure_argon2(in_use, args.hash_runs),
    }


def render(result: dict[str, Any]) -> str:
    rows = []
    for label, key in (("GET /login", "get_login"), ("POST /login (303)", "post_login")):
        r = result[key]
        count = f"{r['count']}" + (" (time limit)" if r["truncated"] else "")
        rows.append(
            [label, count, r["mean_ms"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"]]
        )
    table = format_table(["request", "n", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    in_use = Argon2Params(**result["argon2_params_in_use"])
    a = result["argon2_in_process"]
    lines = [
        f"Login latency against {result['url']} (sequential requests)",
        describe_machine(result["machine"]),
        table,
        "",
        f"argon2 parameters in use (demo user's stored hash): {in_use.describe()}",
        "  = production default (PasswordSettings)"
        if result["argon2_production_cost"]
        else "  WARNING: differs from the production default "
        + Argon2Params(**result["argon2_params_production"]).describe(),
        f"in-process PasswordHasher.hash with these parameters: first {a['first_hash_ms']:.1f} ms,"
        f" median of {a['runs']} {a['hash_median_ms']:.1f} ms (min {a['hash_min_ms']:.1f} ms);"
        f" verify median {a['verify_median_ms']:.1f} ms",
        f"POST /login p50 minus in-process verify: "
        f"{result['post_login']['p50_ms'] - a['verify_median_ms']:.1f} ms (HTTP, CSRF, session, audit)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__.split("\n\n")[0], add_arguments, measure, render, argv)


if __name__ == "__main__":
    sys.exit(main())
