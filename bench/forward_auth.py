"""What forward auth costs: nginx → the example orders API, with and without AuthGate's
``/forward-auth`` asked about every request (``auth_request``), in the same run.

- protected: examples/orders_api/nginx.conf (the configuration docs/forward-auth.md shows)
  in front of ``authgate serve`` (SQLite, production settings, one worker) and the orders
  API behind the proxy (uvicorn, one worker); every request carries one client's access
  token, so after the first request AuthGate answers from its decision cache;
- baseline: the same nginx build and the same API process, through a server block that
  passes a fixed identity header instead of asking anyone.

Cases alternate (baseline, protected) at each connection count, each with an untimed
warm-up; wrk runs on the same machine, loopback only. Goal: forward auth keeps at least
65% of the unprotected throughput, and adds under 2 ms to p99 at 64 connections.

    .venv/bin/python bench/forward_auth.py [--duration 10] [--connections 16 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from common import (
    SERVER_ENV,
    add_wrk_arguments,
    authgate,
    describe_machine,
    format_table,
    free_port,
    machine,
    parse_wrk,
    run_wrk,
    service,
    sigterm_raises_system_exit,
)

from tests.support.server import running_server

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders_api"
AUDIENCE = "https://orders.example.com"
PERMISSION = "orders:read"
PATH = "/orders"
GOALS = {"throughput_ratio": 0.65, "p99_added_ms_at_64": 2.0}
ROUTES_TOML = f"""
[[forward_auth.routes]]
path = "/health"
public = true

[[forward_auth.routes]]
methods = ["GET", "HEAD"]
path = "/orders"
permission = "{PERMISSION}"
audience = "{AUDIENCE}"
"""
BASELINE_CONF = """
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    upstream orders_api {{ server {api}; keepalive 128; }}
    server {{
        listen {listen};
        location / {{
            proxy_set_header X-Authgate-Subject bench;
            proxy_set_header X-Authgate-Subject-Type client;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://orders_api;
        }}
    }}
}}
"""
WRK_SCRIPT = """
local authorization = os.getenv("WRK_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit("nginx is not installed (Debian: nginx-light)")
    return found


def nginx(stack: ExitStack, conf_text: str, run_dir: Path, port: int) -> str:
    """Start nginx with ``conf_text`` until ``stack`` closes; its base URL."""
    run_dir.mkdir()
    conf = run_dir / "nginx.conf"
    conf.write_text(conf_text)
    command = [
        nginx_binary(),
        *("-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "error.log")),
        *("-g", "daemon off;"),
    ]
    running = stack.enter_context(
        service(
            "nginx",
            command,
            port=port,
            env=dict(os.environ),
            log_path=run_dir / "out.log",
            ready_path="/health",
            ready_text="",
        )
    )
    return running.url


def fill(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def setup_authgate(data_dir: Path) -> tuple[str, str]:
    """A data directory with the routes, the orders API, one client holding orders:read."""
    authgate(data_dir, "init", "--json", env=SERVER_ENV)
    with (data_dir / "authgate.toml").open("a") as config:
        config.write(ROUTES_TOML)
    authgate(
        data_dir,
        *("api", "create", "--audience", AUDIENCE, "--name", "Orders"),
        *("--permission", PERMISSION),
        env=SERVER_ENV,
    )
    created = authgate(
        data_dir,
        *("client", "create", "--name", "bench", "--grant-type", "client_credentials"),
        *("--audience", AUDIENCE, "--json"),
        env=SERVER_ENV,
    )
    client = json.loads(created.stdout)
    authgate(data_dir, "role", "create", "reader", "--permission", PERMISSION, env=SERVER_ENV)
    authgate(data_dir, "bind", "reader", "--client", client["client_id"], env=SERVER_ENV)
    return str(client["client_id"]), str(client["client_secret"])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    host = machine()
    with tempfile.TemporaryDirectory(prefix="authgate-bench-fa-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir()
        client_id, secret = setup_authgate(data_dir)
        server = stack.enter_context(running_server(data_dir, env=SERVER_ENV))
        api_port = free_port()
        api = stack.enter_context(
            service(
                "orders API",
                [
                    sys.executable,
                    *("-m", "uvicorn", "--app-dir", str(EXAMPLE), "app:app"),
                    *("--host", "127.0.0.1", "--port", str(api_port), "--no-access-log"),
                ],
                port=api_port,
                env={**os.environ, "ORDERS_MODE": "proxy"},
                log_path=work / "orders.log",
                ready_path="/health",
                ready_text="Application startup complete",
            )
        )
        api_at = api.url.removeprefix("http://")
        protected_port, baseline_port = free_port(), free_port()
        protected = nginx(
            stack,
            fill(
                EXAMPLE / "nginx.conf",
                {
                    "LISTEN": f"127.0.0.1:{protected_port}",
                    "AUTHGATE": server.url.removeprefix("http://"),
                    "ORDERS_API": api_at,
                    "RUN_DIR": str(work / "nginx-protected"),
                },
            ),
            work / "nginx-protected",
            protected_port,
        )
        baseline = nginx(
            stack,
            BASELINE_CONF.format(
                run=work / "nginx-baseline", api=api_at, listen=f"127.0.0.1:{baseline_port}"
            ),
            work / "nginx-baseline",
            baseline_port,
        )
        token = httpx.post(
            server.url + "/oauth/token",
            data={"grant_type": "client_credentials", "resource": AUDIENCE},
            auth=(client_id, secret),
            timeout=10,
        ).json()["access_token"]
        authorization = f"Bearer {token}"
        check = httpx.get(protected + PATH, headers={"Authorization": authorization}, timeout=10)
        if check.status_code != 200 or httpx.get(protected + PATH).status_code != 401:
            raise RuntimeError(f"forward auth is not in place: {check.status_code} {check.text}")
        if httpx.get(baseline + PATH, timeout=10).status_code != 200:
            raise RuntimeError("the baseline does not reach the API")
        script = work / "authorization.lua"
        script.write_text(WRK_SCRIPT)
        env = {"WRK_AUTHORIZATION": authorization}
        cases = []
        for connections in args.connections:
            for kind, url in (("baseline", baseline), ("forward auth", protected)):
                if args.warmup_seconds:
                    run_wrk(
                        url + PATH,
                        args.warmup_seconds,
                        connections,
                        args.threads,
                        script=script,
                        env=env,
                    )
                report = run_wrk(
                    url + PATH, args.duration, connections, args.threads, script=script, env=env
                )
                cases.append({"kind": kind, "connections": connections, **parse_wrk(report)})
    return {
        "machine": host,
        "duration_s": args.duration,
        "threads": args.threads,
        "cases": cases,
        "comparison": compare(cases),
        "goals": GOALS,
    }


def compare(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for connections in sorted({c["connections"] for c in cases}):
        pair = {c["kind"]: c for c in cases if c["connections"] == connections}
        base, auth = pair["baseline"], pair["forward auth"]
        rows.append(
            {
                "connections": connections,
                "throughput_ratio": auth["requests_per_s"] / base["requests_per_s"],
                "p99_added_ms": auth.get("latency_p99_ms", float("nan"))
                - base.get("latency_p99_ms", float("nan")),
            }
        )
    return rows


def render(result: dict[str, Any]) -> str:
    rows = [
        [
            f"{c['kind']}, {c['connections']} conns",
            c["requests_per_s"],
            c.get("latency_p50_ms", float("nan")),
            c.get("latency_p99_ms", float("nan")),
            c["non_2xx_3xx"] + c["socket_errors"],
        ]
        for c in result["cases"]
    ]
    lines = [
        f"nginx → orders API, wrk -t{result['threads']} -d{result['duration_s']}s --latency "
        "(wrk, nginx, AuthGate and the API on the same machine)",
        describe_machine(result["machine"]),
        format_table(["case", "req/s", "p50 ms", "p99 ms", "errors"], rows),
        "",
    ]
    goals = result["goals"]
    for row in result["comparison"]:
        ratio_ok = row["throughput_ratio"] >= goals["throughput_ratio"]
        line = (
            f"{row['connections']} conns: forward auth keeps {row['throughput_ratio']:.0%} of "
            f"the throughput (goal ≥ {goals['throughput_ratio']:.0%}: "
            f"{'met' if ratio_ok else 'NOT met'}), adds {row['p99_added_ms']:.2f} ms to p99"
        )
        if row["connections"] == 64:
            p99_ok = row["p99_added_ms"] < goals["p99_added_ms_at_64"]
            line += f" (goal < {goals['p99_added_ms_at_64']} ms: {'met' if p99_ok else 'NOT met'})"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_arguments(parser, "one case pair each")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with sigterm_raises_system_exit():
        result = measure(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
