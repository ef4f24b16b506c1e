"""RBAC decisions on a large generated model: index build, in-process latency, HTTP, PyCasbin.

The data set (deterministic for a seed): users, groups with members, roles in four tiers of
inheritance (a tier-t role inherits one or two roles of tier t-1), and bindings of users and
groups to roles over a four-level scope hierarchy ``org:N/project:M/folder:K/doc:J``. What is
measured, in this order:

1. building :class:`AccessIndex` from a :class:`Snapshot` in this process (time; memory with
   tracemalloc), and loading it from a SQLite database through :class:`AccessEngine` in a
   fresh process (time; RSS growth). The rows go into the database with SQLAlchemy core
   ``executemany``, not through the services; the set-up time is reported;
2. ``index.decide`` latency, ``time.perf_counter_ns`` around each call, over random
   requests (allows and denies, paths at every depth), and ``engine.check`` (the async path
   the HTTP endpoint takes) in the fresh process;
3. ``POST /access/v1/evaluation`` (AuthZEN) against ``authgate serve`` with wrk, the caller
   holding a client_credentials token for ``<issuer>/admin`` with ``authgate:evaluate``,
   and a trivial Starlette endpoint (parse the JSON, answer ``{"decision": true}``) under
   uvicorn with the same worker count; skipped, saying why, if the endpoint is missing;
4. PyCasbin ``enforce()`` against ``index.decide`` on the same requests, over the
   global-scope part of the model (the bindings at ``/``, one domain; Casbin's domains are
   flat names), every answer of both compared: PyCasbin's RBAC-with-domains model for the
   first ``--casbin-domain-users`` users (its domain role manager loads in time quadratic
   in the role links), and the same policy with domain-free role links for every user;
   each with ``Enforcer`` and with ``FastEnforcer`` (p rules indexed by resource, action).

    .venv/bin/python bench/rbac_decisions.py [--quick] [--users N] [--bindings N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

import httpx
from common import (
    MAX_DURATION_S,
    SERVER_ENV,
    Service,
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
    percentile,
    process_group,
    run_wrk,
    service,
    sigterm_raises_system_exit,
)
from sqlalchemy import create_engine, insert

from authgate.rbac.index import AccessIndex, Grant, Snapshot, UserFacts, effective_permissions
from authgate.storage.models import (
    BindingRow,
    GroupMemberRow,
    GroupRow,
    RoleParentRow,
    RoleRow,
    UserRow,
)

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
LUA_SCRIPT = BENCH_DIR / "json_posts.lua"
EVALUATION_PATH = "/access/v1/evaluation"
UVICORN_READY = "Application startup complete"
INDEX_BUILT = "access index built"  # AccessEngine logs it once per build
GOALS = {"decide_p99_us": 20.0, "http_ratio": 0.6, "casbin_speedup": 100.0}

# The model's shape. Fan-out per level: 100 orgs, 10 projects each, 10 folders each, 100 docs
# each (10^6 distinct documents). Bindings by depth: 1 % at /, 4 % on an org, 10 % on a
# project, 25 % on a folder, 60 % on a document; 15 % of them name a group.
LEVELS = (("org", 100), ("project", 10), ("folder", 10), ("doc", 100))
BINDING_DEPTH_WEIGHTS = (0.01, 0.04, 0.10, 0.25, 0.60)
GROUP_BINDING_SHARE = 0.15
MAX_GROUPS_PER_USER = 3  # each user is in 0..3 groups, uniformly
RESOURCES = 50
ACTIONS = ("read", "write", "delete", "share", "comment", "approve")
ROLE_TIERS = 4
QUICK = {
    "users": 5_000,
    "groups": 100,
    "roles": 200,
    "bindings": 50_000,
    "requests": 20_000,
    "check_requests": 5_000,
    "casbin_requests": 2_000,
    "casbin_seconds": 5,
    "casbin_domain_users": 300,
    "duration": 3,
    "warmup_seconds": 1,
    "http_bodies": 1_000,
}

# PyCasbin's RBAC-with-domains model, as its documentation gives it, except that the matcher
# compares the cheap fields before calling g(): the same answers, far fewer role-graph walks.
CASBIN_DOMAINS_MODEL = """\
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && r.dom == p.dom && g(r.sub, p.sub, r.dom)
"""
# The same with role links that carry no domain (there is only one): PyCasbin's domain role
# manager scans every known name on each link it adds, so its load grows with the square of
# the links; the plain role manager's does not.
CASBIN_FLAT_MODEL = CASBIN_DOMAINS_MODEL.replace("g = _, _, _", "g = _, _").replace(
    "g(r.sub, p.sub, r.dom)", "g(r.sub, p.sub)"
)
CASBIN_CACHE_KEY = [2, 3]  # FastEnforcer: index the p rules by (obj, act)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the data set --------------------------------------------------------------------------


@dataclass
class DataSet:
    users: list[str]  # ids; the username of u0000042 is user-0000042
    groups: list[str]
    roles: dict[str, tuple[str, ...]]  # direct permissions
    parents: list[tuple[str, str]]  # (role, the role it inherits)
    members: list[tuple[str, str]]  # (group, user id)
    bindings: list[tuple[str, str, str, str]]  # (id, member, role, scope)
    permissions: list[str]
    group_users: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        depths = Counter(depth(scope) for _, _, _, scope in self.bindings)
        groups = sum(1 for _, member, _, _ in self.bindings if member.startswith("group:"))
        return {
            "users": len(self.users),
            "groups": len(self.groups),
            "group_memberships": len(self.members),
            "roles": len(self.roles),
            "role_permissions": sum(len(p) for p in self.roles.values()),
            "inheritance_edges": len(self.parents),
            "inheritance_depth": ROLE_TIERS - 1,
            "permissions": len(self.permissions),
            "bindings": len(self.bindings),
            "bindings_to_groups": groups,
            "bindings_by_depth": {str(d): depths.get(d, 0) for d in range(len(LEVELS) + 1)},
        }


def depth(path: str) -> int:
    return 0 if path == "/" else path.count("/") + 1


def username(user_id: str) -> str:
    return "user-" + user_id[1:]


def random_path(rng: Random, levels: int, below: str = "/") -> str:
    """A path ``levels`` deep: ``below`` extended with random segments."""
    parts = [] if below == "/" else below.split("/")
    for kind, fanout in LEVELS[len(parts) : levels]:
        parts.append(f"{kind}:{rng.randrange(fanout)}")
    return "/".join(parts) if parts else "/"


def generate(users: int, groups: int, roles: int, bindings: int, seed: int) -> DataSet:
    rng = Random(seed)
    user_ids = [f"u{n:07d}" for n in range(users)]
    group_names = [f"team-{n:05d}" for n in range(groups)]
    permissions = [f"res{r:02d}:{a}" for r in range(RESOURCES) for a in ACTIONS]
    role_names = [f"role-{n:05d}" for n in range(roles)]
    tiers: list[list[str]] = [[] for _ in range(ROLE_TIERS)]
    direct: dict[str, tuple[str, ...]] = {}
    parents: list[tuple[str, str]] = []
    for n, name in enumerate(role_names):
        tier = n * ROLE_TIERS // roles
        tiers[tier].append(name)
        if tier == 0 or not tiers[tier - 1]:
            direct[name] = tuple(rng.sample(permissions, rng.randint(2, 4)))
        else:
            direct[name] = tuple(rng.sample(permissions, rng.randint(1, 2)))
            below = tiers[tier - 1]
            for parent in rng.sample(below, min(len(below), rng.randint(1, 2))):
                parents.append((name, parent))
    members: list[tuple[str, str]] = []
    group_users: dict[str, list[str]] = {}
    if group_names:
        for user_id in user_ids:
            for group in rng.sample(group_names, min(groups, rng.randint(0, MAX_GROUPS_PER_USER))):
                members.append((group, user_id))
                group_users.setdefault(group, []).append(user_id)
    cumulative = [sum(BINDING_DEPTH_WEIGHTS[: n + 1]) for n in range(len(BINDING_DEPTH_WEIGHTS))]
    rows: list[tuple[str, str, str, str]] = []
    for n in range(bindings):
        levels = min(bisect.bisect(cumulative, rng.random()), len(LEVELS))
        if group_names and rng.random() < GROUP_BINDING_SHARE:
            member = "group:" + rng.choice(group_names)
        else:
            member = "user:" + rng.choice(user_ids)
        rows.append((f"b{n:08d}", member, rng.choice(role_names), random_path(rng, levels)))
    return DataSet(user_ids, group_names, direct, parents, members, rows, permissions, group_users)


def _same(text: str) -> str:
    return text


def _copy(text: str) -> str:
    return text.encode().decode()  # a new str object, as each row read from a database has


def snapshot_of(data: DataSet, *, copy_strings: bool = False) -> Snapshot:
    """The snapshot AccessEngine would read from a database holding ``data``; with
    ``copy_strings`` its strings are new objects, not shared with ``data``."""
    new = _copy if copy_strings else _same
    snapshot = Snapshot(
        roles={new(r): tuple(map(new, p)) for r, p in data.roles.items()},
        parents=[(new(r), new(p)) for r, p in data.parents],
    )
    snapshot.members = [(new(g), new(u)) for g, u in data.members]
    for user_id in data.users:
        name = username(user_id)
        snapshot.users.append(UserFacts(new(user_id), name, None, {}, False))
        snapshot.username_keys[new(name)] = new(user_id)  # ASCII lower case: its own key
    snapshot.bindings = [Grant(new(i), new(m), new(r), new(s)) for i, m, r, s in data.bindings]
    return snapshot


# --- requests ----------------------------------------------------------------------------------

Request = tuple[str, str, str]  # (member, permission, path)


def make_requests(
    data: DataSet,
    count: int,
    rng: Random,
    *,
    root_only: bool = False,
    users: Sequence[str] | None = None,
) -> list[Request]:
    """Half drawn from a binding (a member of it, a permission its role holds, a path at or
    below its scope: mostly allowed), half at random (mostly denied). ``root_only`` keeps to
    bindings at / and asks at /; ``users`` limits the subjects to those users."""
    effective = {
        r: tuple(sorted(p)) for r, p in effective_permissions(data.roles, data.parents).items()
    }
    subjects = list(users) if users is not None else data.users
    among = set(subjects) if users is not None else None

    def holders(member: str) -> list[str]:
        kind, _, name = member.partition(":")
        found = data.group_users.get(name, []) if kind == "group" else [name]
        return found if among is None else [u for u in found if u in among]

    pool = [b for b in data.bindings if b[3] == "/"] if root_only else data.bindings
    if among is not None:
        pool = [b for b in pool if holders(b[1])]
    found: list[Request] = []
    for n in range(count):
        if n % 2 == 0 and pool:
            _, member, role, scope = rng.choice(pool)
            candidates = holders(member)
            user = rng.choice(candidates) if candidates else rng.choice(subjects)
            held = effective[role] or tuple(data.permissions)
            levels = 0 if root_only else rng.randint(depth(scope), len(LEVELS))
            found.append(("user:" + user, rng.choice(held), random_path(rng, levels, scope)))
        else:
            levels = 0 if root_only else rng.randint(0, len(LEVELS))
            path = random_path(rng, levels)
            found.append(("user:" + rng.choice(subjects), rng.choice(data.permissions), path))
    return found


def evaluation_body(request: Request) -> dict[str, Any]:
    """The AuthZEN evaluation request for one (member, permission, path) (spec §6)."""
    member, permission, path = request
    kind, _, ident = path.rpartition("/")[2].partition(":") if path != "/" else ("any", "", "/")
    return {
        "subject": {"type": "user", "id": member.removeprefix("user:")},
        "action": {"name": permission},
        "resource": {"type": kind, "id": ident, "properties": {"path": path}},
    }


# --- statistics --------------------------------------------------------------------------------


def summarize_ns(samples: Sequence[int]) -> dict[str, Any]:
    """Count, mean, p50/p99/p99.9 and max in microseconds of durations in nanoseconds."""
    us = sorted(s / 1000 for s in samples)
    return {
        "count": len(us),
        "mean_us": statistics.fmean(us) if us else float("nan"),
        "p50_us": percentile(us, 50),
        "p99_us": percentile(us, 99),
        "p99_9_us": percentile(us, 99.9),
        "max_us": us[-1] if us else float("nan"),
    }


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    gaps = []
    for _ in range(10_000):
        t0 = clock()
        gaps.append(clock() - t0)
    return float(statistics.median(gaps))


def rss_kib(field_name: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


# --- 1. the index in process --------------------------------------------------------------------


def measure_build(snapshot: Snapshot, runs: int) -> tuple[AccessIndex, dict[str, Any]]:
    """Time ``runs`` builds; the last index is kept."""
    times = []
    index = None
    for _ in range(runs):
        index = None
        gc.collect()
        started = time.perf_counter()
        index = AccessIndex(snapshot)
        times.append(time.perf_counter() - started)
    assert index is not None
    return index, {"runs_s": times, "median_s": statistics.median(times)}


def measure_index_memory(data: DataSet) -> dict[str, Any]:
    """tracemalloc over making a snapshot (strings as new objects, as a database read gives
    them) and building an index from it: what the index holds once the snapshot is dropped
    (its dictionaries and everything they reach: grants, users, strings), and the peak."""
    gc.collect()
    tracemalloc.start()
    try:
        snapshot = snapshot_of(data, copy_strings=True)
        index = AccessIndex(snapshot)
        del snapshot
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del index
    return {"tracemalloc_held_mib": held / 2**20, "tracemalloc_peak_mib": peak / 2**20}


def measure_decisions(
    index: AccessIndex, requests: Sequence[Request], warmup: Sequence[Request]
) -> tuple[dict[str, Any], list[bool]]:
    """``index.decide`` on each request, timed one by one after an untimed warm-up; the
    figures, and each answer."""
    decide = index.decide
    for member, permission, path in warmup:
        decide(member, permission, path)
    clock = time.perf_counter_ns
    samples = [0] * len(requests)
    allowed = [False] * len(requests)
    started = clock()
    for n, (member, permission, path) in enumerate(requests):
        t0 = clock()
        decision = decide(member, permission, path)
        samples[n] = clock() - t0
        allowed[n] = decision.allowed
    wall = clock() - started
    at_depth: dict[int, list[int]] = {}
    allowed_at: Counter[int] = Counter()
    for (_, _, path), ok, sample in zip(requests, allowed, samples, strict=True):
        at_depth.setdefault(depth(path), []).append(sample)
        allowed_at[depth(path)] += ok
    by_depth = {
        str(level): {"allowed": allowed_at[level], **summarize_ns(found)}
        for level, found in sorted(at_depth.items())
    }
    figures = {
        "all": summarize_ns(samples),
        "allowed": summarize_ns([s for s, ok in zip(samples, allowed, strict=True) if ok]),
        "denied": summarize_ns([s for s, ok in zip(samples, allowed, strict=True) if not ok]),
        "decisions_per_s": len(requests) / (wall / 1e9),
        "by_depth": by_depth,
        "timer_overhead_ns": timer_overhead_ns(),
        "warmup_requests": len(warmup),
    }
    return figures, allowed


# --- 1b. the database -----------------------------------------------------------------------------


@dataclass
class DatabaseSetup:
    data_dir: Path
    url: str
    client_id: str
    client_secret: str
    init_s: float
    insert_s: float
    rows: dict[str, int]


def prepare_database(data: DataSet, workdir: Path) -> DatabaseSetup:
    """``authgate init`` (SQLite), the caller of the decision API through the CLI, then the
    data set with bulk inserts."""
    data_dir = workdir / "data"
    data_dir.mkdir()
    started = time.perf_counter()
    authgate(data_dir, "init", "--json", env=SERVER_ENV)
    created = authgate(
        data_dir,
        *("client", "create", "--name", "decision-bench", "--grant-type", "client_credentials"),
        "--json",
        env=SERVER_ENV,
    )
    client = json.loads(created.stdout)
    authgate(
        data_dir,
        "role",
        "create",
        "decision-caller",
        "--permission",
        "authgate:evaluate",
        env=SERVER_ENV,
    )
    authgate(data_dir, "bind", "decision-caller", "--client", client["client_id"], env=SERVER_ENV)
    init_s = time.perf_counter() - started
    db_path = data_dir / "authgate.db"
    started = time.perf_counter()
    rows = bulk_insert(f"sqlite:///{db_path}", data)
    insert_s = time.perf_counter() - started
    return DatabaseSetup(
        data_dir,
        f"sqlite:///{db_path}",
        client["client_id"],
        client["client_secret"],
        init_s,
        insert_s,
        rows,
    )


def _chunks(rows: Iterator[dict[str, Any]], size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_insert(url: str, data: DataSet) -> dict[str, int]:
    """One transaction, SQLAlchemy core ``executemany`` per table, in chunks."""
    now = datetime.now(UTC)
    tables: list[tuple[Any, Callable[[], Iterator[dict[str, Any]]]]] = [
        (
            RoleRow,
            lambda: (
                {"name": n, "permissions": list(p), "created_at": now}
                for n, p in data.roles.items()
            ),
        ),
        (RoleParentRow, lambda: ({"role": r, "parent": p} for r, p in data.parents)),
        (
            UserRow,
            lambda: (
                {
                    "id": u,
                    "username": username(u),
                    "username_key": username(u),
                    "email": None,
                    "attributes": {},
                    "disabled": False,
                    "totp_last_step": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for u in data.users
            ),
        ),
        (
            GroupRow,
            lambda: ({"name": g, "description": "", "created_at": now} for g in data.groups),
        ),
        (GroupMemberRow, lambda: ({"group": g, "user_id": u} for g, u in data.members)),
        (
            BindingRow,
            lambda: (
                {"id": i, "member": m, "role": r, "scope": s, "condition": None, "created_at": now}
                for i, m, r, s in data.bindings
            ),
        ),
    ]
    engine = create_engine(url)
    counts = {}
    try:
        with engine.begin() as conn:
            for model, rows in tables:
                table = model.__table__
                counts[table.name] = 0
                for chunk in _chunks(rows()):
                    conn.execute(insert(table), chunk)
                    counts[table.name] += len(chunk)
    finally:
        engine.dispose()
    return counts


def load_in_fresh_process(
    setup: DatabaseSetup,
    checks: Sequence[Request],
    expected: Sequence[bool],
    warmup: Sequence[Request],
    workdir: Path,
) -> dict[str, Any]:
    """Run :func:`child_load` in a new interpreter, so that its RSS shows the index alone."""
    path = workdir / "checks.json"
    path.write_text(
        json.dumps(
            {
                "warmup": [[m.removeprefix("user:"), p, s] for m, p, s in warmup],
                "checks": [
                    [m.removeprefix("user:"), p, s, e]
                    for (m, p, s), e in zip(checks, expected, strict=True)
                ],
            }
        )
    )
    done = subprocess.run(
        [sys.executable, __file__, "--child-load", setup.url, str(path)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env=cli_env(setup.data_dir),
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading through AccessEngine failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child_load(url: str, checks_path: str) -> dict[str, Any]:
    """In a fresh process: ``engine.index()`` (the first decision's path: read the change
    counter, load, build) timed, with the RSS before and after; then ``engine.check`` for
    each request of ``checks_path``, timed, compared with the expected answers."""
    from authgate.rbac.engine import AccessEngine
    from authgate.settings import ACCESS_POLL_SECONDS
    from authgate.storage.changes import ChangeWatch
    from authgate.storage.db import Database

    given = json.loads(Path(checks_path).read_text())
    checks = given["checks"]

    async def run() -> dict[str, Any]:
        db = Database(url)
        engine = AccessEngine(db, ChangeWatch(db, poll_seconds=ACCESS_POLL_SECONDS))
        gc.collect()
        before = rss_kib()
        started = time.perf_counter()
        index = await engine.index()
        load_s = time.perf_counter() - started
        gc.collect()
        after = rss_kib()
        started = time.perf_counter()
        gc.collect()  # a full collection now walks every object of the index
        full_gc_s = time.perf_counter() - started
        clock = time.perf_counter_ns
        for subject, permission, path in given["warmup"]:
            await engine.check("user", subject, permission, path)
        samples = []
        mismatches = 0
        for subject, permission, path, expected in checks:
            t0 = clock()
            decision = await engine.check("user", subject, permission, path)
            samples.append(clock() - t0)
            mismatches += decision.allowed != expected
        await db.dispose()
        return {
            "load_s": load_s,
            "build_s_logged": engine.last_build_seconds,
            "bindings": index.binding_count,
            "rss_before_mib": before / 1024,
            "rss_growth_mib": (after - before) / 1024,
            "full_gc_ms": full_gc_s * 1000,
            "gc_tracked_objects": len(gc.get_objects()),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "check": summarize_ns(samples),
            "check_mismatches": mismatches,
        }

    return asyncio.run(run())


# --- 3. over HTTP -------------------------------------------------------------------------------


def _server_ready(running: Service, text: str, count: int) -> bool:
    return running.log(tail=10**9).count(text) >= count


@contextmanager
def authgate_server(setup: DatabaseSetup, workers: int, workdir: Path) -> Iterator[Service]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = cli_env(setup.data_dir, {"AUTHGATE_ISSUER": url, **SERVER_ENV})
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
        yield running


@contextmanager
def starlette_server(workers: int, workdir: Path) -> Iterator[Service]:
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", "trivial_starlette:app", "--app-dir", str(PEERS_DIR)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--no-access-log", "--no-server-header"),
    ]
    with service(
        f"trivial Starlette ({workers} workers)",
        command,
        port=port,
        env=dict(os.environ),
        log_path=workdir / f"starlette-{workers}.log",
        ready_path=EVALUATION_PATH,  # GET answers 405 once a worker is up
        ready_text=UVICORN_READY,
        ready_count=workers,
    ) as running:
        yield running


def fetch_token(url: str, setup: DatabaseSetup, timeout_s: float) -> str:
    """client_credentials for ``<issuer>/admin`` with ``authgate:evaluate``. The first token
    request builds the index in the worker that answers it, hence the long timeout."""
    form = {
        "grant_type": "client_credentials",
        "resource": url + "/admin",
        "scope": "authgate:evaluate",
    }
    response = httpx.post(
        url + "/oauth/token",
        data=form,
        auth=(setup.client_id, setup.client_secret),
        timeout=timeout_s,
    )
    if response.status_code != 200 or "authgate:evaluate" not in response.json().get("scope", ""):
        raise RuntimeError(f"token request answered {response.status_code}: {response.text[:2000]}")
    return str(response.json()["access_token"])


def verify_decisions(
    running: Service,
    token: str,
    bodies: Sequence[dict[str, Any]],
    expected: Sequence[bool],
    workers: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Every worker must have built its index (its log line) and answered; each answer must
    be 200 with the decision the in-process index gave. One fresh connection per request, so
    that the requests spread over the workers."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout_s
    checked = 0
    sample: dict[str, Any] = {}
    while True:
        n = checked % len(bodies)
        with httpx.Client(timeout=timeout_s) as http:
            response = http.post(running.url + EVALUATION_PATH, json=bodies[n], headers=headers)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if (
            response.status_code != 200
            or not isinstance(answer, dict)
            or answer.get("decision") is not expected[n]
        ):
            raise RuntimeError(
                f"POST {EVALUATION_PATH} {json.dumps(bodies[n])}\nexpected decision "
                f"{expected[n]}, got HTTP {response.status_code}: {response.text[:2000]}"
            )
        sample = {"request": bodies[n], "response": answer}
        checked += 1
        if checked >= 4 * workers + 1 and _server_ready(running, INDEX_BUILT, workers):
            return {"verified_requests": checked, "sample": sample}
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every worker built its access index in {timeout_s:.0f} s")


def server_log(running: Service, since: int) -> dict[str, Any]:
    """AuthGate's request log lines after byte ``since``: statuses, the time it spent on
    each request (``ms``), how many took over 100 ms, and a few lines that are not info."""
    with running.log_path.open("rb") as log:
        log.seek(since)
        chunk = log.read()
    statuses: Counter[str] = Counter()
    spent: list[float] = []
    notes: list[str] = []
    for line in chunk.decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"level": "?", "message": line}
        if entry.get("logger") == "authgate.http":
            statuses[f"{entry.get('path')} {entry.get('status')}"] += 1
            spent.append(float(entry.get("ms", 0.0)))
        elif entry.get("level") not in ("info", "debug") and len(notes) < 5:
            notes.append(line[:500])
    spent.sort()
    return {
        "statuses": dict(statuses),
        "server_p50_ms": percentile(spent, 50),
        "server_p99_ms": percentile(spent, 99),
        "server_max_ms": spent[-1] if spent else float("nan"),
        "server_over_100ms": sum(1 for ms in spent if ms > 100),
        "notes": notes,
    }


def wrk_run(
    running: Service, bodies_path: Path, token: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    """A warm-up and a measured wrk run; the CPU time the server's processes used during the
    measured run; for AuthGate, its own log of the measured run."""
    url = running.url + EVALUATION_PATH
    env = {"WRK_BODIES": str(bodies_path), "WRK_AUTHORIZATION": f"Bearer {token}" if token else ""}
    if args.warmup_seconds:
        run_wrk(
            url, args.warmup_seconds, args.connections, args.threads, script=LUA_SCRIPT, env=env
        )
    offset = running.log_path.stat().st_size
    group = running.process.pid
    before = cpu_seconds(process_group(group))
    report = run_wrk(url, args.duration, args.connections, args.threads, script=LUA_SCRIPT, env=env)
    used = cpu_used_since(before, cpu_seconds(process_group(group)))
    result = parse_wrk(report)
    result["cpu_ms_per_request"] = used * 1000 / max(result["requests"], 1)
    if token is not None:
        result["log"] = server_log(running, offset)
    return result


def measure_http(
    setup: DatabaseSetup,
    requests: Sequence[Request],
    expected: Sequence[bool],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    bodies = [evaluation_body(r) for r in requests]
    bodies_path = workdir / "bodies.jsonl"
    bodies_path.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    result: dict[str, Any] = {
        "workers": args.workers,
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "warmup_s": args.warmup_seconds,
        "bodies": len(bodies),
        "bodies_allowed": sum(expected),
    }
    with authgate_server(setup, args.workers, workdir) as running:
        started = time.monotonic()
        token = fetch_token(running.url, setup, args.server_timeout)
        result["first_token_s"] = time.monotonic() - started
        with httpx.Client(timeout=args.server_timeout) as http:
            probe = http.post(
                running.url + EVALUATION_PATH,
                json=bodies[0],
                headers={"Authorization": f"Bearer {token}"},
            )
        if probe.status_code in (404, 405):
            result["skipped"] = (
                f"POST {EVALUATION_PATH} answered {probe.status_code}: this tree has no AuthZEN "
                "evaluation endpoint yet (src/authgate/web/authzen.py); the HTTP part was skipped"
            )
            return result
        result["verification"] = verify_decisions(
            running, token, bodies, expected, args.workers, args.server_timeout
        )
        result["ready_s"] = time.monotonic() - started
        progress(f"AuthZEN sample: {json.dumps(result['verification']['sample'])}")
        result["authgate"] = wrk_run(running, bodies_path, token, args)
        progress(f"  AuthGate: {_brief(result['authgate'])}")
    with starlette_server(args.workers, workdir) as running:
        result["starlette"] = wrk_run(running, bodies_path, None, args)
        progress(f"  trivial Starlette: {_brief(result['starlette'])}")
    result["ratio"] = result["authgate"]["requests_per_s"] / result["starlette"]["requests_per_s"]
    return result


def _brief(run: dict[str, Any]) -> str:
    bad = run["non_2xx_3xx"] + run["socket_errors"]
    return (
        f"{run['requests_per_s']:,.0f} req/s, p50 {run.get('latency_p50_ms', float('nan')):.2f} ms, "
        f"p99 {run.get('latency_p99_ms', float('nan')):.2f} ms" + (f", {bad} errors" if bad else "")
    )


# --- 4. PyCasbin ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CasbinSetup:
    """One way of putting the global-scope part of the model into PyCasbin."""

    name: str
    label: str
    model: str
    users: int | None  # the first N users only (with their memberships), or all


def casbin_rules(
    data: DataSet, users: Sequence[str], *, domains: bool
) -> tuple[list[list[str]], list[list[str]]]:
    """The global-scope part of the model, for ``users``, as Casbin policy: ``p, role, /,
    resource, action`` per direct permission; ``g, member, role[, /]`` per binding at / (of
    these users and of every group); ``g, user, group[, /]`` per membership of these users;
    ``g, role, inherited role[, /]`` per inheritance edge."""
    among = set(users)
    domain = ["/"] if domains else []
    p_rules = [[role, "/", *p.split(":")] for role, perms in data.roles.items() for p in perms]
    g_rules = [
        [member, role, *domain]
        for _, member, role, scope in data.bindings
        if scope == "/" and (member.startswith("group:") or member[5:] in among)
    ]
    g_rules += [["user:" + u, "group:" + g, *domain] for g, u in data.members if u in among]
    g_rules += [[role, parent, *domain] for role, parent in data.parents]
    return p_rules, g_rules


def casbin_enforcer(
    kind: str, model_path: Path, p_rules: list[list[str]], g_rules: list[list[str]]
) -> Any:
    import casbin
    from casbin.persist.adapter import Adapter

    class Rows(Adapter):  # type: ignore[misc]
        """Policy handed over as lists: the cheapest load an adapter can do."""

        def load_policy(self, model: Any) -> None:
            p = model.model["p"]["p"].policy
            for rule in p_rules:
                p.append(list(rule))
            g = model.model["g"]["g"].policy
            for rule in g_rules:
                g.append(list(rule))

    if kind == "FastEnforcer":
        return casbin.FastEnforcer(str(model_path), Rows(), cache_key_order=CASBIN_CACHE_KEY)
    return casbin.Enforcer(str(model_path), Rows())


def time_enforcer(
    enforce: Callable[..., bool], requests: Sequence[Request], limit_s: float
) -> tuple[list[int], list[bool], int]:
    """``enforce`` on each request (at /) until done or ``limit_s`` passed."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    answers: list[bool] = []
    deadline = time.monotonic() + limit_s
    begun = clock()
    for member, permission, _ in requests:
        obj, _, act = permission.partition(":")
        t0 = clock()
        answers.append(bool(enforce(member, "/", obj, act)))
        samples.append(clock() - t0)
        if time.monotonic() > deadline:
            break
    return samples, answers, clock() - begun


def measure_casbin(
    data: DataSet, index: AccessIndex, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    from importlib.metadata import version

    setups = [
        CasbinSetup(
            "domains",
            "RBAC with domains (g = _, _, _), one domain",
            CASBIN_DOMAINS_MODEL,
            min(args.casbin_domain_users, len(data.users)),
        ),
        CasbinSetup(
            "flat", "same policy, role links without domain (g = _, _)", CASBIN_FLAT_MODEL, None
        ),
    ]
    result: dict[str, Any] = {
        "pycasbin": version("pycasbin"),
        "root_bindings": sum(1 for b in data.bindings if b[3] == "/"),
        "time_limit_s": args.casbin_seconds,
        "runs": [],
    }
    for number, setup in enumerate(setups):
        users = data.users[: setup.users] if setup.users is not None else data.users
        requests = make_requests(
            data, args.casbin_requests, Random(args.seed + 2 + number), root_only=True, users=users
        )
        warmup = make_requests(data, 200, Random(args.seed + 9), root_only=True, users=users)
        model_path = workdir / f"casbin_{setup.name}.conf"
        model_path.write_text(setup.model)
        p_rules, g_rules = casbin_rules(data, users, domains=setup.name == "domains")
        for kind in ("Enforcer", "FastEnforcer"):
            gc.collect()
            started = time.perf_counter()
            enforcer = casbin_enforcer(kind, model_path, p_rules, g_rules)
            load_s = time.perf_counter() - started
            # The role graph of a domain is built on its first enforce: part of the load.
            first = warmup[0]
            enforcer.enforce(first[0], "/", *first[1].split(":"))
            ready_s = time.perf_counter() - started
            time_enforcer(enforcer.enforce, warmup, args.casbin_seconds)
            samples, answers, wall = time_enforcer(enforcer.enforce, requests, args.casbin_seconds)
            done = len(answers)
            # The same requests, repeated to at least 50,000 calls: a rate over a few thousand
            # calls of a few µs is mostly noise.
            repeats = -(-50_000 // done)
            ours, ours_allowed = measure_decisions(index, list(requests[:done]) * repeats, warmup)
            mismatches = sum(a != b for a, b in zip(answers, ours_allowed[:done], strict=True))
            entry = {
                "setup": setup.name,
                "label": setup.label,
                "kind": kind,
                "users": len(users),
                "p_rules": len(p_rules),
                "g_rules": len(g_rules),
                "load_s": load_s,
                "ready_s": ready_s,
                "requests": done,
                "allowed": sum(answers),
                "casbin": summarize_ns(samples),
                "casbin_decisions_per_s": done / (wall / 1e9),
                "authgate": ours["all"],
                "authgate_decisions_per_s": ours["decisions_per_s"],
                "mismatches": mismatches,
            }
            entry["speedup"] = entry["authgate_decisions_per_s"] / entry["casbin_decisions_per_s"]
            progress(
                f"   {setup.name} {kind}: ready in {ready_s:.1f} s; {done:,} requests, "
                f"{entry['casbin_decisions_per_s']:,.0f}/s; index.decide "
                f"{entry['authgate_decisions_per_s']:,.0f}/s; speed-up {entry['speedup']:,.0f}x"
                + (f"; {mismatches} DIFFERENT ANSWERS" if mismatches else "")
            )
            result["runs"].append(entry)
            del enforcer
    return result


# --- the run ---------------------------------------------------------------------------------------


@contextmanager
def phase(result: dict[str, Any], name: str, text: str) -> Iterator[None]:
    """Announce a part of the run on stderr and record how long it took."""
    progress(text)
    started = time.monotonic()
    try:
        yield
    finally:
        result["phases_s"][name] = time.monotonic() - started


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {"machine": machine(), "phases_s": {}, "problems": []}
    with phase(
        result,
        "generate",
        f"generating {args.users:,} users, {args.groups:,} groups, {args.roles:,} roles, "
        f"{args.bindings:,} bindings (seed {args.seed})",
    ):
        t0 = time.perf_counter()
        data = generate(args.users, args.groups, args.roles, args.bindings, args.seed)
        result["sizes"] = data.describe()
        rng = Random(args.seed + 1)
        requests = make_requests(data, args.requests, rng)
        warmup = make_requests(data, min(args.requests, 10_000), rng)
        result["setup"] = {"generate_s": time.perf_counter() - t0}
        t0 = time.perf_counter()
        snapshot = snapshot_of(data)
        result["setup"]["snapshot_s"] = time.perf_counter() - t0

    with phase(result, "build", "1. building AccessIndex from the snapshot"):
        index, result["build"] = measure_build(snapshot, args.build_runs)
        del snapshot
        result["build"].update(measure_index_memory(data))
        gc.collect()
    build = result["build"]
    progress(f"   {build['median_s']:.2f} s, {build['tracemalloc_held_mib']:.0f} MiB")

    with phase(result, "decide", f"2. index.decide over {len(requests):,} requests"):
        decisions, expected = measure_decisions(index, requests, warmup)
    result["decide"] = decisions
    progress(
        f"   p50 {decisions['all']['p50_us']:.2f} µs, p99 {decisions['all']['p99_us']:.2f} µs, "
        f"{decisions['decisions_per_s']:,.0f}/s"
    )

    with tempfile.TemporaryDirectory(prefix="authgate-bench-rbac-") as tmp:
        workdir = Path(tmp)
        setup = None
        if not (args.skip_database and args.skip_http):
            with phase(result, "database", "1b. authgate init and bulk insert into SQLite"):
                setup = prepare_database(data, workdir)
            result["setup"].update(init_s=setup.init_s, insert_s=setup.insert_s, rows=setup.rows)
            progress(f"   init {setup.init_s:.1f} s, insert {setup.insert_s:.1f} s")
        if setup is not None and not args.skip_database:
            with phase(result, "engine", "1b. AccessEngine load in a fresh process, engine.check"):
                count = min(args.check_requests, len(requests))
                engine = load_in_fresh_process(
                    setup, requests[:count], expected[:count], warmup, workdir
                )
            result["engine"] = engine
            if engine["check_mismatches"]:
                result["problems"].append(
                    f"engine.check and index.decide disagreed on {engine['check_mismatches']} "
                    "requests"
                )
            progress(f"   load {engine['load_s']:.1f} s, RSS +{engine['rss_growth_mib']:.0f} MiB")
        if setup is not None and not args.skip_http:
            with phase(result, "http", f"3. HTTP: {EVALUATION_PATH} and a trivial Starlette one"):
                count = min(args.http_bodies, len(requests))
                try:
                    result["http"] = measure_http(
                        setup, requests[:count], expected[:count], args, workdir
                    )
                except RuntimeError as exc:
                    result["http"] = {"failed": str(exc)}
                    result["problems"].append(f"HTTP part failed: {exc}")
            if "skipped" in result["http"]:
                progress("   " + result["http"]["skipped"])
        if not args.skip_casbin:
            with phase(result, "casbin", "4. PyCasbin on the global-scope part (bindings at /)"):
                result["casbin"] = measure_casbin(data, index, args, workdir)
            for entry in result["casbin"]["runs"]:
                if entry["mismatches"]:
                    result["problems"].append(
                        f"PyCasbin {entry['setup']} {entry['kind']} and index.decide disagreed on "
                        f"{entry['mismatches']} requests"
                    )
    result["seconds"] = time.monotonic() - started
    result["loadavg_end_1m"] = os.getloadavg()[0]
    return result


# --- report ---------------------------------------------------------------------------------------


def _latency_row(name: str, summary: dict[str, Any], rate: float | None) -> list[object]:
    return [
        name,
        f"{summary['count']:,}",
        f"{summary['p50_us']:.2f}",
        f"{summary['p99_us']:.2f}",
        f"{summary['p99_9_us']:.1f}",
        f"{summary['max_us']:,.0f}",
        f"{rate:,.0f}" if rate is not None else "",
    ]


def _render_model(result: dict[str, Any]) -> list[str]:
    s = result["sizes"]
    setup = result["setup"]
    depths = " : ".join(f"{n:,}" for n in s["bindings_by_depth"].values())
    out = [
        f"data set: {s['users']:,} users; {s['groups']:,} groups ({s['group_memberships']:,} "
        f"memberships); {s['roles']:,} roles ({s['role_permissions']:,} direct permissions of "
        f"{s['permissions']} possible, {s['inheritance_edges']:,} inheritance edges, "
        f"{s['inheritance_depth']} levels); {s['bindings']:,} bindings ({s['bindings_to_groups']:,} "
        f"to groups), at / : org : project : folder : doc = {depths}",
        f"set-up: generate {setup['generate_s']:.1f} s, snapshot {setup['snapshot_s']:.1f} s"
        + (
            f", authgate init + CLI {setup['init_s']:.1f} s, SQLite bulk insert "
            f"{setup['insert_s']:.1f} s ({sum(setup['rows'].values()):,} rows)"
            if "insert_s" in setup
            else ""
        ),
    ]
    build = result["build"]
    rows: list[list[object]] = [
        [
            "AccessIndex(snapshot), in this process",
            f"{build['median_s']:.2f} (" + ", ".join(f"{t:.2f}" for t in build["runs_s"]) + ")",
            f"{build['tracemalloc_held_mib']:,.0f} held, {build['tracemalloc_peak_mib']:,.0f} peak "
            "with the snapshot (tracemalloc)",
        ]
    ]
    engine = result.get("engine")
    if engine:
        rows.append(
            [
                "AccessEngine.index() from SQLite, fresh process",
                f"{engine['load_s']:.2f}",
                f"RSS +{engine['rss_growth_mib']:,.0f} (peak RSS {engine['peak_rss_mib']:,.0f})",
            ]
        )
    if engine:
        rows.append(
            [
                "  then a full gc.collect() over it",
                f"{engine['full_gc_ms'] / 1000:.2f}",
                f"{engine['gc_tracked_objects']:,} objects tracked",
            ]
        )
    out.append("\nindex build (median of runs, the runs)")
    out.append(format_table(["build", "seconds", "memory MiB"], rows))
    return out


def _render_latency(result: dict[str, Any]) -> list[str]:
    d = result["decide"]
    rows = [
        _latency_row("index.decide, all", d["all"], d["decisions_per_s"]),
        _latency_row("  allowed", d["allowed"], None),
        _latency_row("  denied", d["denied"], None),
    ]
    names = ["/", "org", "project", "folder", "doc"]
    for level, summary in d["by_depth"].items():
        label = f"  path depth {level} ({names[int(level)]}), {summary['allowed']:,} allowed"
        rows.append(_latency_row(label, summary, None))
    engine = result.get("engine")
    if engine:
        rows.append(_latency_row("engine.check (async, subject lookup)", engine["check"], None))
    return [
        f"\nin-process decisions, perf_counter_ns around each call (timer overhead "
        f"{d['timer_overhead_ns']:.0f} ns included); goal p99 < {GOALS['decide_p99_us']:.0f} µs",
        format_table(
            ["call", "requests", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "decisions/s"], rows
        ),
    ]


def _render_http(http: dict[str, Any]) -> list[str]:
    if "skipped" in http or "failed" in http:
        return [f"\nHTTP: {http.get('skipped') or 'FAILED: ' + http['failed']}"]
    rows = []
    for key, label in (("authgate", "AuthGate"), ("starlette", "trivial Starlette")):
        run = http[key]
        rows.append(
            [
                label,
                f"{run['requests_per_s']:,.0f}",
                run.get("latency_p50_ms", float("nan")),
                run.get("latency_p99_ms", float("nan")),
                run.get("latency_max_ms", float("nan")),
                run["cpu_ms_per_request"],
                run["non_2xx_3xx"] + run["socket_errors"],
            ]
        )
    log = http["authgate"].get("log", {})
    seen = (
        [
            f"AuthGate's own log of the measured run: {log['statuses']}; time spent per request "
            f"p50 {log['server_p50_ms']:.2f} ms, p99 {log['server_p99_ms']:.2f} ms, max "
            f"{log['server_max_ms']:.0f} ms, {log['server_over_100ms']:,} over 100 ms",
            *(f"  {note}" for note in log["notes"]),
        ]
        if log
        else []
    )
    return [
        f"\nPOST {EVALUATION_PATH}: wrk -t{http['threads']} -c{http['connections']} "
        f"-d{http['duration_s']}s --latency ({http['warmup_s']} s warm-up), {http['workers']} "
        f"worker(s) each, {http['bodies']:,} bodies in turn ({http['bodies_allowed']:,} allowed); "
        f"AuthGate answered its first token after {http['first_token_s']:.1f} s",
        format_table(
            ["server", "req/s", "p50 ms", "p99 ms", "max ms", "CPU ms/req", "errors"], rows
        ),
        f"AuthGate / trivial Starlette: {http['ratio']:.2f} (goal >= {GOALS['http_ratio']:.2f})",
        *seen,
        f"sample: {json.dumps(http['verification']['sample'])}",
    ]


def _render_casbin(casbin: dict[str, Any]) -> list[str]:
    rows = []
    for e in casbin["runs"]:
        rows.append(
            [
                f"{e['setup']} {e['kind']}",
                f"{e['users']:,}",
                f"{e['p_rules']:,} / {e['g_rules']:,}",
                f"{e['ready_s']:.1f}",
                f"{e['requests']:,}",
                f"{e['casbin_decisions_per_s']:,.0f}",
                f"{e['casbin']['p50_us']:,.0f}",
                f"{e['casbin']['p99_us']:,.0f}",
                f"{e['authgate_decisions_per_s']:,.0f}",
                f"{e['authgate']['p99_us']:.2f}",
                f"{e['speedup']:,.0f}x",
                e["mismatches"],
            ]
        )
    headers = [
        *("policy, enforcer", "users", "p / g rules", "ready s", "requests", "Casbin/s"),
        *("p50 µs", "p99 µs", "decide/s", "decide p99 µs", "speed-up", "differ"),
    ]
    labels = {e["setup"]: e["label"] for e in casbin["runs"]}
    return [
        f"\nPyCasbin {casbin['pycasbin']} enforce() against index.decide on the same requests at / "
        f"({casbin['root_bindings']:,} bindings at /); goal speed-up >= "
        f"{GOALS['casbin_speedup']:.0f}x; each run stops after {casbin['time_limit_s']} s",
        *(f"  {name}: {label}" for name, label in labels.items()),
        format_table(headers, rows),
    ]


def render(result: dict[str, Any]) -> str:
    out = _render_model(result)
    out.extend(_render_latency(result))
    if result.get("http"):
        out.extend(_render_http(result["http"]))
    if result.get("casbin"):
        out.extend(_render_casbin(result["casbin"]))
    if result["problems"]:
        out.append("\nPROBLEMS")
        out.extend(result["problems"])
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in result["phases_s"].items())
    out.append(
        f"\n{describe_machine(result['machine'])}, {result['loadavg_end_1m']:.2f} at the end; "
        f"{result['seconds']:.0f} s in all ({phases})"
    )
    return "\n".join(out)


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_argument_group("data set")
    size.add_argument("--users", type=bounded_int(1, 1_000_000), default=100_000, help="(100000)")
    size.add_argument("--groups", type=bounded_int(0, 100_000), default=1_000, help="(1000)")
    size.add_argument(
        "--roles", type=bounded_int(ROLE_TIERS, 100_000), default=2_000, help="(2000)"
    )
    size.add_argument(
        "--bindings", type=bounded_int(1, 5_000_000), default=1_000_000, help="(1000000)"
    )
    size.add_argument("--seed", type=int, default=1, help="random seed of the data set (1)")
    runs = parser.add_argument_group("in process")
    runs.add_argument(
        "--requests",
        type=bounded_int(1, 2_000_000),
        default=200_000,
        help="index.decide calls timed (200000)",
    )
    runs.add_argument(
        "--build-runs", type=bounded_int(1, 10), default=2, help="timed index builds (2)"
    )
    runs.add_argument(
        "--check-requests",
        type=bounded_int(1, 1_000_000),
        default=50_000,
        help="engine.check calls timed (50000)",
    )
    http = parser.add_argument_group("HTTP")
    http.add_argument(
        "--duration",
        type=bounded_int(1, MAX_DURATION_S),
        default=10,
        help="seconds per wrk run (10)",
    )
    http.add_argument("--connections", type=bounded_int(1, 1_000), default=64, help="(64)")
    http.add_argument("--threads", type=bounded_int(1, 64), default=2, help="wrk threads (2)")
    http.add_argument(
        "--warmup-seconds", type=bounded_int(0, 10), default=2, help="untimed wrk run first (2)"
    )
    http.add_argument(
        "--workers", type=bounded_int(1, 8), default=1, help="server processes, both servers (1)"
    )
    http.add_argument(
        "--http-bodies",
        type=bounded_int(1, 100_000),
        default=5_000,
        help="different request bodies (5000)",
    )
    http.add_argument(
        "--server-timeout",
        type=bounded_int(10, 1_800),
        default=600,
        help="seconds for the server's index build (600)",
    )
    casbin = parser.add_argument_group("PyCasbin")
    casbin.add_argument(
        "--casbin-requests", type=bounded_int(1, 1_000_000), default=20_000, help="(20000)"
    )
    casbin.add_argument(
        "--casbin-domain-users",
        type=bounded_int(1, 1_000_000),
        default=1_000,
        help="users in the RBAC-with-domains policy, whose load is quadratic (1000)",
    )
    casbin.add_argument(
        "--casbin-seconds",
        type=bounded_int(1, 600),
        default=30,
        help="time limit per enforcer and policy (30)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and short runs (under a minute)"
    )
    parser.add_argument(
        "--skip-database", action="store_true", help="no SQLite load nor engine.check"
    )
    parser.add_argument("--skip-http", action="store_true", help="no HTTP part")
    parser.add_argument("--skip-casbin", action="store_true", help="no PyCasbin part")
    parser.add_argument("--child-load", nargs=2, metavar=("URL", "CHECKS"), help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.child_load:
        print(json.dumps(child_load(*args.child_load)))
        return 0
    if args.quick:  # the quick sizes, except where given on the command line
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if not args.skip_http and shutil.which("wrk") is None and not Path("/usr/bin/wrk").exists():
        parser.error("wrk is not installed (Debian package wrk); or pass --skip-http")
    if not args.skip_casbin:
        try:
            import casbin  # noqa: F401
        except ImportError:
            parser.error(
                "PyCasbin is not installed: pip install -e '.[bench]'; or pass --skip-casbin"
            )
    try:
        with sigterm_raises_system_exit():
            result = measure(args)
    except KeyboardInterrupt:
        print("interrupted: every server started has been stopped", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2, default=str) if args.json else render(result))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
