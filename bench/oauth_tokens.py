"""client_credentials tokens per second: AuthGate against node-oidc-provider and a minimal issuer.

Every target issues ES256-signed JWT access tokens (RFC 9068 style) for one API to one client
authenticated with client_secret_basic, and is loaded by wrk on 127.0.0.1 with the same
form body (``grant_type=client_credentials&resource=…&scope=…``):

- AuthGate on PostgreSQL (a fresh database, created for the run and dropped after;
  ``AUTHGATE_RATE_LIMITS=off``), ``authgate serve --workers 1`` and ``--workers 2``;
- node-oidc-provider (bench/peers, npm ``oidc-provider``) with client credentials and
  resource indicators, as one process and as a two-process ``node:cluster``;
- the ceiling: bench/peers/minimal_issuer.py (Starlette: Basic auth checked against a
  SHA-256 digest in constant time, sign, respond; nothing stored), uvicorn with 1 and 2
  workers.

Introspection (RFC 7662) is measured for AuthGate (one of its JWT access tokens) and for
node-oidc-provider (one of its opaque tokens). Before any load, each target must answer 200
with a token whose signature verifies against its keys; a sample is printed. Each run also
records the CPU time the target's processes (for AuthGate, with its PostgreSQL backends)
used per request: on a machine shared with other work it varies less than requests/s.

    .venv/bin/python bench/oauth_tokens.py [--duration 10] [--connections 16 64] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg
import httpx
from common import (
    SERVER_ENV,
    Service,
    add_wrk_arguments,
    authgate,
    bounded_int,
    cli_env,
    cpu_seconds,
    cpu_used_since,
    describe_machine,
    format_table,
    free_port,
    machine,
    parse_wrk,
    process_group,
    run_wrk,
    service,
    sigterm_raises_system_exit,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
LUA_SCRIPT = BENCH_DIR / "form_post.lua"
AUDIENCE = "https://orders.bench.example"
SCOPE = "orders:read"
TOKEN_FORM = urlencode({"grant_type": "client_credentials", "resource": AUDIENCE, "scope": SCOPE})
DEFAULT_POSTGRES_URL = (
    os.environ.get("AUTHGATE_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)
KINDS = ("authgate", "node", "minimal")
PROCESS_COUNTS = (1, 2)
LABELS = {
    "authgate": "AuthGate (PostgreSQL)",
    "node": "node-oidc-provider",
    "minimal": "minimal issuer",
}
UNITS = {"authgate": "worker", "node": "process", "minimal": "worker"}
# Both uvicorn (AuthGate, minimal issuer) and the node peers print one of these per process
# once it accepts connections; load starts only when every process has printed it.
UVICORN_READY = "Application startup complete"
NODE_READY = "oidc-provider peer listening"
GOALS = {"vs_node": 1.3, "vs_minimal": 0.7, "p99_ms_at_64": 20.0}


def count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "es" if unit.endswith("s") else "s")


class TargetFailure(RuntimeError):
    """A target answered a verification request wrongly; the message holds both sides."""


@dataclass
class Target:
    kind: str
    processes: int
    url: str
    token_path: str
    client_id: str
    client_secret: str
    keys: KeySet
    introspect_path: str | None = None
    introspect_token: str | None = None  # fixed (node's seeded opaque token) or obtained
    service: Service | None = None
    database_backends: Callable[[], set[int]] | None = None  # its PostgreSQL server processes

    @property
    def label(self) -> str:
        return f"{LABELS[self.kind]}, {count(self.processes, UNITS[self.kind])}"

    @property
    def authorization(self) -> str:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()


# --- the targets --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthGateSetup:
    data_dir: Path
    admin_url: str
    database_url: str
    client_id: str
    client_secret: str

    def backends(self) -> set[int]:
        """The PIDs of the PostgreSQL server processes serving AuthGate's database (their
        CPU time belongs to AuthGate's cost per request)."""
        return asyncio.run(_backends(self.admin_url, self.database_url))


async def _backends(admin_url: str, url: str) -> set[int]:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await conn.close()
    return {int(row["pid"]) for row in rows}


async def _create_database(admin_url: str) -> str:
    name = f"authgate_bench_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlsplit(admin_url)._replace(path="/" + name).geturl()


async def _drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def authgate_database(admin_url: str, workdir: Path) -> Iterator[AuthGateSetup]:
    """A fresh PostgreSQL database with AuthGate's schema and keys, one API with one
    permission, one client_credentials client and a role granting it the permission."""
    database_url = asyncio.run(_create_database(admin_url))
    try:
        data_dir = workdir / "authgate-data"
        data_dir.mkdir()
        env = {"AUTHGATE_DATABASE_URL": database_url, **SERVER_ENV}
        authgate(data_dir, "init", "--json", env=env)
        authgate(
            data_dir,
            *("api", "create", "--audience", AUDIENCE, "--name", "Orders"),
            *("--permission", SCOPE),
            env=env,
        )
        created = authgate(
            data_dir,
            *("client", "create", "--name", "benchmark", "--grant-type", "client_credentials"),
            *("--audience", AUDIENCE, "--json"),
            env=env,
        )
        client = json.loads(created.stdout)
        authgate(data_dir, "role", "create", "orders-reader", "--permission", SCOPE, env=env)
        authgate(data_dir, "bind", "orders-reader", "--client", client["client_id"], env=env)
        yield AuthGateSetup(
            data_dir, admin_url, database_url, client["client_id"], client["client_secret"]
        )
    finally:
        asyncio.run(_drop_database(admin_url, database_url))


@contextmanager
def authgate_target(setup: AuthGateSetup, workers: int, workdir: Path) -> Iterator[Target]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = cli_env(
        setup.data_dir,
        {"AUTHGATE_DATABASE_URL": setup.database_url, "AUTHGATE_ISSUER": url, **SERVER_ENV},
    )
    command = [sys.executable, "-m", "authgate", "serve", "--port", str(port)]
    with service(
        f"authgate serve --workers {workers}",
        [*command, "--workers", str(workers)],
        port=port,
        env=env,
        log_path=workdir / f"authgate-{workers}.log",
        ready_path="/healthz",
        ready_text=UVICORN_READY,
        ready_count=workers,
    ) as running:
        keys = KeySet.import_key_set(httpx.get(url + "/.well-known/jwks.json", timeout=10).json())
        yield Target(
            "authgate",
            workers,
            url,
            "/oauth/token",
            setup.client_id,
            setup.client_secret,
            keys,
            introspect_path="/oauth/introspect",
            service=running,
            database_backends=setup.backends,
        )


def ensure_node_modules() -> str:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for node-oidc-provider (Node.js 20 or later)")
    if not (PEERS_DIR / "node_modules" / "oidc-provider").is_dir():
        print("installing bench/peers (npm ci)", file=sys.stderr)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS_DIR, check=True, timeout=300
        )
    return node


@contextmanager
def node_target(processes: int, workdir: Path) -> Iterator[Target]:
    node = ensure_node_modules()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id, client_secret = "benchmark", secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PEER_PORT": str(port),
        "PEER_CLIENT_ID": client_id,
        "PEER_CLIENT_SECRET": client_secret,
        "PEER_AUDIENCE": AUDIENCE,
        "PEER_SCOPE": SCOPE,
        # The default store is in memory, per process: every process of the cluster stores
        # this one opaque token at start, so introspection works whichever one answers.
        "PEER_SEED_TOKEN": secrets.token_urlsafe(32),
        "PEER_WORKERS": str(processes),
    }
    script = "oidc_server.js" if processes == 1 else "oidc_cluster.js"
    with service(
        f"node-oidc-provider ({count(processes, 'process')})",
        [node, script],
        port=port,
        env=env,
        log_path=workdir / f"node-{processes}.log",
        ready_path="/.well-known/openid-configuration",
        ready_text=NODE_READY,
        ready_count=processes,
        cwd=PEERS_DIR,
    ) as running:
        discovery = httpx.get(url + "/.well-known/openid-configuration", timeout=10).json()
        keys = KeySet.import_key_set(httpx.get(discovery["jwks_uri"], timeout=10).json())
        yield Target(
            "node",
            processes,
            url,
            urlsplit(discovery["token_endpoint"]).path,
            client_id,
            client_secret,
            keys,
            introspect_path=urlsplit(discovery["introspection_endpoint"]).path,
            introspect_token=env["PEER_SEED_TOKEN"],
            service=running,
        )


@contextmanager
def minimal_target(workers: int, workdir: Path) -> Iterator[Target]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id, client_secret = "benchmark", secrets.token_urlsafe(32)
    key = ECKey.generate_key(
        "P-256", parameters={"kid": secrets.token_hex(8), "alg": "ES256", "use": "sig"}
    )
    env = {
        **os.environ,
        "MINIMAL_ISSUER": url,
        "MINIMAL_AUDIENCE": AUDIENCE,
        "MINIMAL_SCOPE": SCOPE,
        "MINIMAL_CLIENT_ID": client_id,
        "MINIMAL_SECRET_SHA256": hashlib.sha256(client_secret.encode()).hexdigest(),
        "MINIMAL_JWK": json.dumps(key.as_dict(private=True)),
    }
    command = [
        *(sys.executable, "-m", "uvicorn", "minimal_issuer:app", "--app-dir", str(PEERS_DIR)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--no-access-log", "--no-server-header"),
    ]
    with service(
        f"minimal issuer ({count(workers, 'worker')})",
        command,
        port=port,
        env=env,
        log_path=workdir / f"minimal-{workers}.log",
        ready_path="/token",  # GET answers 405 once a worker is up
        ready_text=UVICORN_READY,
        ready_count=workers,
    ) as running:
        public = KeySet([ECKey.import_key(key.as_dict(private=False))])
        yield Target(
            "minimal", workers, url, "/token", client_id, client_secret, public, service=running
        )


# --- verification ---------------------------------------------------------------------------


def _exchange(target: Target, path: str, body: str) -> httpx.Response:
    """One POST on a fresh connection (so that requests reach different worker processes)."""
    headers = {
        "Authorization": target.authorization,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    with httpx.Client(timeout=10) as http:
        return http.post(target.url + path, content=body, headers=headers)


def _shorten(token: str, keep: int = 24) -> str:
    return token if len(token) <= 2 * keep else f"{token[:keep]}…{token[-8:]} ({len(token)} chars)"


def _failure(target: Target, path: str, body: str, response: httpx.Response, why: str) -> str:
    shown_body = body.replace(target.introspect_token or "\0", "<token>")
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return (
        f"{target.label}: {why}\n"
        f"request:  POST {target.url}{path}\n"
        f"          Authorization: Basic <{target.client_id}:secret>\n"
        f"          Content-Type: application/x-www-form-urlencoded\n"
        f"          {shown_body}\n"
        f"response: HTTP {response.status_code}\n{headers}\n\n{response.text[:3000]}"
    )


def check_token(target: Target, response: httpx.Response) -> dict[str, Any]:
    """The response must be 200 with an ES256 JWT for AUDIENCE carrying SCOPE, signed by a
    key the target publishes; returns a printable sample."""
    problem = None
    data: dict[str, Any] = {}
    claims: dict[str, Any] = {}
    header: dict[str, Any] = {}
    if response.status_code != 200:
        problem = f"status {response.status_code}, expected 200"
    else:
        try:
            data = response.json()
            decoded = jwt.decode(data["access_token"], target.keys, algorithms=["ES256"])
            header, claims = dict(decoded.header), dict(decoded.claims)
        except (ValueError, KeyError, TypeError, JoseError) as exc:
            problem = f"no verifiable ES256 access token ({type(exc).__name__}: {exc})"
    if problem is None:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if AUDIENCE not in audiences:
            problem = f"aud is {audience!r}, expected {AUDIENCE!r}"
        elif SCOPE not in str(claims.get("scope", "")).split():
            problem = f"scope is {claims.get('scope')!r}, expected {SCOPE!r}"
        elif int(claims.get("exp", 0)) <= time.time():
            problem = "the token has expired already"
    if problem is not None:
        raise TargetFailure(_failure(target, target.token_path, TOKEN_FORM, response, problem))
    body = {**data, "access_token": _shorten(data["access_token"])}
    return {
        "status": response.status_code,
        "cache_control": response.headers.get("cache-control"),
        "body": body,
        "jwt_header": header,
        "jwt_claims": claims,
    }


def verify_tokens(target: Target) -> dict[str, Any]:
    """A few token requests on fresh connections; all must pass :func:`check_token`."""
    sample: dict[str, Any] = {}
    for _ in range(2 * target.processes + 1):
        sample = check_token(target, _exchange(target, target.token_path, TOKEN_FORM))
    return sample


def introspection_token(target: Target) -> str:
    if target.introspect_token is not None:
        return target.introspect_token
    response = _exchange(target, target.token_path, TOKEN_FORM)
    check_token(target, response)
    return str(response.json()["access_token"])


def verify_introspection(target: Target, token: str) -> dict[str, Any]:
    """The token must be active on every process (several fresh connections)."""
    assert target.introspect_path is not None
    body = urlencode({"token": token})
    data: dict[str, Any] = {}
    for _ in range(2 * target.processes + 1):
        response = _exchange(target, target.introspect_path, body)
        try:
            data = response.json() if response.status_code == 200 else {}
        except ValueError:
            data = {}
        if data.get("active") is not True:
            why = "the token is not reported active"
            raise TargetFailure(_failure(target, target.introspect_path, body, response, why))
    return {"status": 200, "body": data}


# --- load -------------------------------------------------------------------------------------


def server_statuses(target: Target, since: int) -> tuple[int, dict[str, int], list[str]]:
    """AuthGate logs one JSON line per request: count statuses per path after byte ``since``
    and keep a few non-info lines (what went wrong, if anything did)."""
    if target.service is None or target.kind != "authgate":
        return since, {}, []
    with target.service.log_path.open("rb") as log:
        log.seek(since)
        chunk = log.read()
    statuses: Counter[str] = Counter()
    notes: list[str] = []
    for line in chunk.decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if line.strip() and len(notes) < 5:
                notes.append(line[:500])
            continue
        if entry.get("logger") == "authgate.http":
            statuses[f"{entry.get('path')} {entry.get('status')}"] += 1
        elif entry.get("level") not in ("info", "debug") and len(notes) < 5:
            notes.append(line[:500])
    return since + len(chunk), dict(statuses), notes


def load(
    target: Target, path: str, body: str, connections: int, args: argparse.Namespace
) -> dict[str, Any]:
    """A warm-up and a measured wrk run; also the CPU time the target's processes (and, for
    AuthGate, its PostgreSQL backends) used during the measured run."""
    assert target.service is not None
    url = target.url + path
    env = {"WRK_BODY": body, "WRK_AUTHORIZATION": target.authorization}
    if args.warmup_seconds:
        run_wrk(url, args.warmup_seconds, connections, args.threads, script=LUA_SCRIPT, env=env)
    offset = target.service.log_path.stat().st_size
    group = target.service.process.pid
    backends = target.database_backends
    server_before = cpu_seconds(process_group(group))
    db_before = cpu_seconds(backends()) if backends else {}
    report = run_wrk(url, args.duration, connections, args.threads, script=LUA_SCRIPT, env=env)
    server_cpu = cpu_used_since(server_before, cpu_seconds(process_group(group)))
    db_cpu = cpu_used_since(db_before, cpu_seconds(backends())) if backends else 0.0
    result = {"connections": connections, **parse_wrk(report)}
    requests = max(result["requests"], 1)
    result["cpu_ms_per_request"] = (server_cpu + db_cpu) * 1000 / requests
    result["db_cpu_ms_per_request"] = db_cpu * 1000 / requests if backends else None
    _, statuses, notes = server_statuses(target, offset)
    if statuses:
        result["server_statuses"] = statuses
    if notes:
        result["server_notes"] = notes
    return result


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_target(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "kind": target.kind,
        "processes": target.processes,
        "label": target.label,
        "token_path": target.token_path,
    }
    sample = verify_tokens(target)
    result["token_sample"] = sample
    progress(f"{target.label}: token sample\n{json.dumps(sample, indent=2)}")
    result["token"] = []
    result["problems"] = []
    for connections in args.connections:
        run = load(target, target.token_path, TOKEN_FORM, connections, args)
        result["token"].append(run)
        progress(f"  token, {connections} connections: {_brief(run)}")
        note_problem(result, "token", run)
    if target.introspect_path is not None and not args.skip_introspection:
        token = introspection_token(target)
        result["introspection_sample"] = verify_introspection(target, token)
        progress(
            f"{target.label}: introspection sample\n"
            f"{json.dumps(result['introspection_sample'], indent=2)}"
        )
        body = urlencode({"token": token})
        result["introspection"] = []
        for connections in args.connections:
            run = load(target, target.introspect_path, body, connections, args)
            result["introspection"].append(run)
            progress(f"  introspection, {connections} connections: {_brief(run)}")
            note_problem(result, "introspection", run)
        verify_introspection(target, token)  # still active after the load
    return result


def note_problem(result: dict[str, Any], series: str, run: dict[str, Any]) -> None:
    if not (run["non_2xx_3xx"] or run["socket_errors"] or run.get("server_notes")):
        return
    detail = ", ".join(f"{n} {kind}" for kind, n in run["socket_errors_detail"].items() if n)
    text = (
        f"{result['label']}, {series}, {run['connections']} connections: "
        f"{run['non_2xx_3xx']} non-2xx/3xx responses, {run['socket_errors']} socket errors"
        + (f" ({detail}; wrk's timeout is 2 s)" if detail else "")
    )
    if run.get("server_statuses"):
        text += f"; the server logged {run['server_statuses']}"
    for note in run.get("server_notes", []):
        text += f"\n    {note}"
    result["problems"].append(text)


def _brief(run: dict[str, Any]) -> str:
    bad = run["non_2xx_3xx"] + run["socket_errors"]
    return (
        f"{run['requests_per_s']:,.0f} req/s, p50 {run.get('latency_p50_ms', float('nan')):.2f}"
        f" ms, p99 {run.get('latency_p99_ms', float('nan')):.2f} ms"
        + (f", {bad} errors" if bad else "")
    )


@contextmanager
def start(
    kind: str, processes: int, workdir: Path, setup: AuthGateSetup | None
) -> Iterator[Target]:
    if kind == "authgate":
        assert setup is not None
        with authgate_target(setup, processes, workdir) as target:
            yield target
    elif kind == "node":
        with node_target(processes, workdir) as target:
            yield target
    else:
        with minimal_target(processes, workdir) as target:
            yield target


def measure(args: argparse.Namespace) -> dict[str, Any]:
    host = machine()
    started = time.monotonic()
    rounds: list[list[dict[str, Any]]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="authgate-bench-oauth-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        setup = None
        if "authgate" in args.targets:
            setup = stack.enter_context(authgate_database(args.postgres_url, workdir))
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                progress(f"--- round {number} of {args.rounds}")
            results: list[dict[str, Any]] = []
            for kind in args.targets:
                for processes in PROCESS_COUNTS:
                    try:
                        with start(kind, processes, workdir, setup) as target:
                            results.append(measure_target(target, args))
                    except TargetFailure as failure:
                        progress(f"FAILED: {failure}")
                        failures.append(str(failure))
            rounds.append(results)
    targets = combine(rounds)
    return {
        "machine": host,
        "seconds": round(time.monotonic() - started, 1),
        "duration_s": args.duration,
        "warmup_s": args.warmup_seconds,
        "threads": args.threads,
        "rounds": args.rounds,
        "connections": list(args.connections),
        "token_form": TOKEN_FORM,
        "targets": targets,
        "ratios": ratios(targets, args.connections),
        "failures": failures,
    }


def combine(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry per target: for each series and connection count the run with the median
    requests/s over the rounds (its latencies with it), plus every round's requests/s."""
    combined: dict[tuple[str, int], dict[str, Any]] = {}
    for results in rounds:
        for r in results:
            entry = combined.setdefault(
                (r["kind"], r["processes"]),
                {k: v for k, v in r.items() if k not in ("token", "introspection", "problems")},
            )
            entry.setdefault("problems", []).extend(r.get("problems", []))
            for series in ("token", "introspection"):
                for run in r.get(series, []):
                    entry.setdefault(f"_{series}", {}).setdefault(run["connections"], []).append(
                        run
                    )
    for entry in combined.values():
        for series in ("token", "introspection"):
            by_connections = entry.pop(f"_{series}", None)
            if by_connections is None:
                continue
            entry[series] = []
            for runs in by_connections.values():
                ordered = sorted(runs, key=lambda run: run["requests_per_s"])
                median = dict(ordered[(len(ordered) - 1) // 2])
                median["rounds_requests_per_s"] = [run["requests_per_s"] for run in runs]
                median["errors_all_rounds"] = sum(
                    run["non_2xx_3xx"] + run["socket_errors"] for run in runs
                )
                entry[series].append(median)
    return list(combined.values())


# --- report -----------------------------------------------------------------------------------


def _find(results: list[dict[str, Any]], kind: str, processes: int) -> dict[str, Any] | None:
    for r in results:
        if r["kind"] == kind and r["processes"] == processes:
            return r
    return None


def _rps(result: dict[str, Any] | None, series: str, connections: int) -> float | None:
    if result is None:
        return None
    for run in result.get(series, []):
        if run["connections"] == connections:
            return float(run["requests_per_s"])
    return None


def ratios(results: list[dict[str, Any]], connections: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    pairs = [
        ("token", "node", "AuthGate / node-oidc-provider", GOALS["vs_node"]),
        ("token", "minimal", "AuthGate / minimal issuer", GOALS["vs_minimal"]),
        ("introspection", "node", "AuthGate / node-oidc-provider, introspection", None),
    ]
    for series, peer, name, goal in pairs:
        for processes in PROCESS_COUNTS:
            ours = _find(results, "authgate", processes)
            theirs = _find(results, peer, processes)
            values = {}
            for c in connections:
                a, b = _rps(ours, series, c), _rps(theirs, series, c)
                values[str(c)] = a / b if a is not None and b else None
            if any(v is not None for v in values.values()):
                rows.append(
                    {
                        "name": f"{name}, {count(processes, 'process')}",
                        "series": series,
                        "processes": processes,
                        "by_connections": values,
                        "goal": goal,
                    }
                )
    return rows


def _runs_table(results: list[dict[str, Any]], series: str, rounds: int) -> str:
    rows = []
    for r in results:
        for run in r.get(series, []):
            row = [
                LABELS[r["kind"]],
                r["processes"],
                run["connections"],
                f"{run['requests_per_s']:,.0f}",
                run.get("latency_p50_ms", float("nan")),
                run.get("latency_p99_ms", float("nan")),
                run["cpu_ms_per_request"],
                "-" if run["db_cpu_ms_per_request"] is None else run["db_cpu_ms_per_request"],
                run["errors_all_rounds"],
            ]
            if rounds > 1:
                every = run["rounds_requests_per_s"]
                row.insert(4, f"{min(every):,.0f}-{max(every):,.0f}")
            rows.append(row)
    headers = [
        *("target", "processes", "connections", "req/s", "p50 ms", "p99 ms"),
        *("CPU ms/req", "of it DB", "errors"),
    ]
    if rounds > 1:
        headers.insert(4, "req/s range")
    return format_table(headers, rows)


def render(result: dict[str, Any]) -> str:
    out: list[str] = []
    out.append("sample token responses (verified: 200, ES256 signature, aud, scope, exp):")
    for r in result["targets"]:
        out.append(f"- {r['label']}: {json.dumps(r['token_sample'], ensure_ascii=False)}")
    connections = result["connections"]
    out.append(
        f"\nclient_credentials token requests: POST {result['token_form']} with Basic auth; "
        f"wrk -t{result['threads']} -d{result['duration_s']}s --latency on 127.0.0.1 "
        f"({result['warmup_s']} s untimed warm-up before each run)\n"
        "CPU ms/req: CPU time of the target's processes during the measured run (for AuthGate "
        "with its PostgreSQL backends, shown again as 'of it DB') per request"
        + (
            f"; the run with the median req/s of {result['rounds']} rounds"
            if result["rounds"] > 1
            else ""
        )
    )
    out.append(_runs_table(result["targets"], "token", result["rounds"]))
    if any(r.get("introspection") for r in result["targets"]):
        out.append(
            "\nintrospection (RFC 7662): POST token=… with Basic auth; AuthGate: one of its "
            "JWT access tokens; node-oidc-provider: one of its opaque tokens"
        )
        out.append(_runs_table(result["targets"], "introspection", result["rounds"]))
    if result["ratios"]:
        rows = []
        for ratio in result["ratios"]:
            cells = [
                f"{v:.2f}" if v is not None else "-"
                for v in (ratio["by_connections"][str(c)] for c in connections)
            ]
            goal = f">= {ratio['goal']:.2f}" if ratio["goal"] is not None else ""
            rows.append([ratio["name"], *cells, goal])
        out.append("\nratios of requests per second (same process count)")
        out.append(format_table(["ratio", *(f"{c} conns" for c in connections), "goal"], rows))
    p99 = [
        f"{count(r['processes'], 'worker')}: {run.get('latency_p99_ms', float('nan')):.1f} ms"
        for r in result["targets"]
        if r["kind"] == "authgate"
        for run in r["token"]
        if run["connections"] == 64
    ]
    if p99:
        out.append(
            f"AuthGate token p99 at 64 connections: {', '.join(p99)} "
            f"(goal < {GOALS['p99_ms_at_64']:.0f} ms)"
        )
    problems = [problem for r in result["targets"] for problem in r.get("problems", [])]
    if problems or result["failures"]:
        out.append("\nPROBLEMS")
        out.extend(problems)
        out.extend(result["failures"])
    out.append(
        f"\n{describe_machine(result['machine'])}; wrk and every server share the machine; "
        f"{result['seconds']} s in all"
    )
    return "\n".join(out)


# --- command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_wrk_arguments(parser, "one run per value")
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        help="what to measure (all three), each with 1 and 2 processes",
    )
    parser.add_argument(
        "--rounds",
        type=bounded_int(1, 5),
        default=1,
        help="measure every target this many times, interleaved; the median run is shown (1)",
    )
    parser.add_argument(
        "--skip-introspection", action="store_true", help="measure token requests only"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="a PostgreSQL server where the run may create (and drop) a database "
        f"(AUTHGATE_TEST_POSTGRES_URL or {DEFAULT_POSTGRES_URL})",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None and not Path("/usr/bin/wrk").exists():
        parser.error("wrk is not installed (Debian package wrk)")
    try:
        with sigterm_raises_system_exit():
            result = measure(args)
    except KeyboardInterrupt:
        print("interrupted: every server started has been stopped", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
