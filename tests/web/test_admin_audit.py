"""``/admin/v1/audit-events`` and ``authgate audit export`` (docs/admin-api.md): the audit
log filtered by time (RFC 3339 §5.6 date-times), actor, subject, tags and scope, in pages
by event id, and streamed as JSON lines with the same filters and the same objects."""

# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.audit.events import AuditContext, AuditTag
from authgate.cli.main import app as cli
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.conformance.conftest import (
    REVOKE,
    Registered,
    client_credentials,
    token_request,
)
from tests.web.test_admin_api import (
    Admins,
    _model_changes_seen_at_once,
    _no_groups_left,
    _one_rsa_key_per_run,
    admins,
    assert_error,
    http,
    root,
    walk,
)

EVENTS = "/admin/v1/audit-events"
EXPORT = EVENTS + "/export"
ALICE = AuditContext(actor="user:alice")


def instant(clock: FrozenClock) -> str:
    return clock.now().isoformat().replace("+00:00", "Z")


@pytest.fixture
async def history(container: Container, clock: FrozenClock) -> dict[str, str]:
    """Three roles made a minute apart: two by the CLI, one by alice. Returns the times."""
    times = {}
    for name, ctx in (("early", CLI), ("middle", ALICE), ("late", CLI)):
        clock.advance(timedelta(minutes=1))
        times[name] = instant(clock)
        await container.access.create_role(ctx, name, ["orders:read"])
    await container.access.delete_role(CLI, "late")
    return times


async def test_events_are_filtered_by_time_actor_subject_and_tag(
    http: httpx.AsyncClient, root: dict[str, str], history: dict[str, str]
) -> None:
    async def subjects(**params: str | list[str]) -> list[str]:
        response = await http.get(EVENTS, params=params, headers=root)
        assert response.status_code == 200, response.text
        return [e["subject"] for e in response.json()["items"]]

    created = {"tag": "role:created"}
    assert await subjects(**created) == [
        "role:authgate-admin",
        "role:early",
        "role:middle",
        "role:late",
    ]
    assert await subjects(**created, since=history["middle"]) == ["role:middle", "role:late"]
    assert await subjects(**created, until=history["middle"]) == [
        "role:authgate-admin",
        "role:early",
    ]
    # The same instant in another offset is the same filter.
    assert await subjects(**created, since=history["middle"].replace("Z", "+00:00")) == [
        "role:middle",
        "role:late",
    ]
    assert await subjects(actor="user:alice") == ["role:middle"]
    assert await subjects(subject="role:late") == ["role:late", "role:late"]
    assert await subjects(tag=["role:deleted", "role:created"], subject="role:late") == [
        "role:late",
        "role:late",
    ]
    assert await subjects(tag="no:such-tag") == []

    event = (await http.get(EVENTS, params={"actor": "user:alice"}, headers=root)).json()["items"][
        0
    ]
    assert event["tag"] == "role:created" and event["occurred_at"] == history["middle"]
    assert event["details"]["permissions"] == ["orders:read"]
    assert len(event["hash"]) == 64 and len(event["prev_hash"]) == 64


async def test_pages_go_by_event_id_and_keep_the_filters(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], history: dict[str, str]
) -> None:
    first = (
        await http.get(EVENTS, params={"tag": "role:created", "limit": 2}, headers=root)
    ).json()
    assert len(first["items"]) == 2
    assert first["next"].startswith(container.settings.issuer + EVENTS + "?")
    assert "tag=role%3Acreated" in first["next"] and "limit=2" in first["next"]
    walked = await walk(http, EVENTS + "?tag=role:created&limit=2", root)
    assert [e["subject"] for e in walked][-3:] == ["role:early", "role:middle", "role:late"]
    everything = await walk(http, EVENTS + "?limit=3", root)
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-11-28T04:00:00"},  # no offset: RFC 3339 needs one
        {"until": "2026-02-30T00:00:00Z"},
        {"since": "0001-01-01T00:00:00+01:00"},
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"limit": "0"},
        {"actor": "a\x01b"},
        {"tag": "x" * 400},
        {"tag": "false"},
        {"actor": ""},
        {"scope": "not a scope"},
        {"scope": ""},
    ],
    ids=[
        "words",
        "no-offset",
        "no-such-day",
        "before-year-1",
        "cursor",
        "limit",
        "control",
        "long",
        "not-a-tag",
        "empty",
        "bad-scope",
        "empty-scope",
    ],
)
async def test_bad_filters_are_400(
    http: httpx.AsyncClient, root: dict[str, str], params: dict[str, str]
) -> None:
    for path in (EVENTS, EXPORT):
        if path == EXPORT and set(params) & {"cursor", "limit"}:
            continue
        assert_error(await http.get(path, params=params, headers=root), 400, "invalid_request")


async def test_the_export_streams_json_lines_with_the_same_filters(
    http: httpx.AsyncClient, root: dict[str, str], history: dict[str, str]
) -> None:
    response = await http.get(EXPORT, params={"since": history["early"]}, headers=root)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["cache-control"] == "no-store"
    assert response.text.endswith("\n")
    lines = [json.loads(line) for line in response.text.splitlines()]
    paged = await walk(http, f"{EVENTS}?since={history['early']}", root)
    assert lines == paged, "the export holds the same objects as the pages"
    assert [e["subject"] for e in lines][:3] == ["role:early", "role:middle", "role:late"]


async def test_the_audit_log_needs_audit_read(http: httpx.AsyncClient, admins: Admins) -> None:
    await admins.role("auditor", "authgate:audit.read")
    _, auditor = await admins.client(("auditor", "/"))
    _, nobody = await admins.client()
    assert (await http.get(EVENTS, headers=auditor)).status_code == 200
    assert (await http.get(EXPORT, headers=auditor)).status_code == 200
    for path in (EVENTS, EXPORT):
        body = assert_error(await http.get(path, headers=nobody), 403, "insufficient_scope")
        assert (body["permission"], body["scope"]) == ("authgate:audit.read", "/")
    assert (await http.get(EXPORT)).status_code == 401


async def test_the_cli_exports_json_lines_to_stdout_or_a_file(
    container: Container,
    database_url: str,
    data_dir: Path,
    history: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {"AUTHGATE_DATA_DIR": str(data_dir), "AUTHGATE_DATABASE_URL": database_url}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, ["audit", "export", *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, _ = await asyncio.to_thread(
        run, "--since", history["middle"], "--tag", "role:created", "--tag", "role:deleted"
    )
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["tag"], e["subject"]) for e in lines] == [
        ("role:created", "role:middle"),
        ("role:created", "role:late"),
        ("role:deleted", "role:late"),
    ]
    target = tmp_path / "audit.jsonl"
    code, out, err = await asyncio.to_thread(
        run, "--until", history["middle"], "--output", str(target)
    )
    assert code == 0 and out == ""
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert written and all(e["occurred_at"] < history["middle"] for e in written)
    assert f"{len(written)} events written" in err
    code, _, err = await asyncio.to_thread(run, "--since", "last tuesday")
    assert code != 0 and "RFC 3339" in err and err.count("\n") == 1


@pytest.fixture
async def scoped(container: Container) -> dict[str, str]:
    """Objects at org:acme, below it, beside it (org:acme-two) and at the root; returns
    the subject of each by name."""
    subjects = {}
    for name, scope in (
        ("acme", "org:acme"),
        ("team", "org:acme/team:a"),
        ("two", "org:acme-two"),
        ("shouting", "ORG:ACME/team:a"),  # scopes compare case-sensitively, as the engine
        ("rooted", "/"),
    ):
        user = await container.users.create(f"{name}-user", CLI, scope=scope)
        subjects[name] = f"user:{user.id}"
    client, _ = await container.clients.create(
        CLI, name="acme app", grant_types=["client_credentials"], scope="org:acme/team:a"
    )
    subjects["client"] = f"client:{client.client_id}"
    await container.access.create_role(CLI, "viewer", ["orders:read"])
    binding = await container.access.bind(CLI, "viewer", "user:two-user", "org:acme/project:1")
    subjects["binding"] = f"binding:{binding.id}"
    return subjects


async def test_events_show_their_scope_and_filter_by_it(
    http: httpx.AsyncClient, root: dict[str, str], scoped: dict[str, str]
) -> None:
    response = await http.get(EXPORT, params={"scope": "org:acme"}, headers=root)
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(e["tag"], e["subject"], e["scope"]) for e in lines] == [
        ("user:created", scoped["acme"], "org:acme"),
        ("user:created", scoped["team"], "org:acme/team:a"),
        ("client:created", scoped["client"], "org:acme/team:a"),
        ("binding:created", scoped["binding"], "org:acme/project:1"),
    ], "org:acme-two, ORG:ACME/team:a and / are not below org:acme"
    users = await walk(http, "/admin/v1/users?scope=org:acme", root)
    assert {u["username"] for u in users} == {"acme-user", "team-user"}
    paged = await walk(http, f"{EVENTS}?scope=org:acme&limit=2", root)
    assert paged == lines
    below = await walk(http, f"{EVENTS}?scope=org:acme/team:a", root)
    assert [e["subject"] for e in below] == [scoped["team"], scoped["client"]]
    beside = await walk(http, f"{EVENTS}?scope=org:acme-two", root)
    assert [e["subject"] for e in beside] == [scoped["two"]]
    everything = await walk(http, f"{EVENTS}?scope=/", root)
    assert everything == await walk(http, EVENTS, root)
    assert {e["scope"] for e in everything} >= {"/", "org:acme", "org:acme-two"}


async def test_an_auditor_at_a_scope_reads_only_there(
    http: httpx.AsyncClient, admins: Admins, scoped: dict[str, str]
) -> None:
    await admins.role("auditor", "authgate:audit.read")
    _, acme = await admins.client(("auditor", "org:acme"))
    for path in (EVENTS, EXPORT):
        for params in ({}, {"scope": "/"}, {"scope": "org:acme-two"}):
            response = await http.get(path, params=params, headers=acme)
            body = assert_error(response, 403, "insufficient_scope")
            assert (body["permission"], body["scope"]) == (
                "authgate:audit.read",
                params.get("scope", "/"),
            )
        for scope in ("org:acme", "org:acme/team:a"):
            response = await http.get(path, params={"scope": scope}, headers=acme)
            assert response.status_code == 200, response.text
    seen = await walk(http, f"{EVENTS}?scope=org:acme", acme)
    assert {e["subject"] for e in seen} >= {
        scoped["acme"],
        scoped["team"],
        scoped["client"],
        scoped["binding"],
    }
    # The rest is the binding that made this auditor: it too lives at org:acme.
    assert scoped["two"] not in {e["subject"] for e in seen}
    assert {e["scope"].split("/")[0] for e in seen} == {"org:acme"}


async def test_the_cli_exports_by_scope(
    container: Container, database_url: str, data_dir: Path, scoped: dict[str, str]
) -> None:
    env = {"AUTHGATE_DATA_DIR": str(data_dir), "AUTHGATE_DATABASE_URL": database_url}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, ["audit", "export", *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, _ = await asyncio.to_thread(run, "--scope", "org:acme/team:a")
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["subject"], e["scope"]) for e in lines] == [
        (scoped["team"], "org:acme/team:a"),
        (scoped["client"], "org:acme/team:a"),
    ]
    code, _, err = await asyncio.to_thread(run, "--scope", "acme corp")
    assert code != 0 and "scope 'acme corp'" in err and err.count("\n") == 1


@pytest.mark.parametrize("method", ["basic", "post"])
async def test_a_token_revocation_is_recorded_at_the_clients_scope(
    http: httpx.AsyncClient, container: Container, root: dict[str, str], method: str
) -> None:
    audience = container.oauth.config.admin_audience
    client, secret = await container.clients.create(
        CLI,
        name="acme service",
        grant_types=["client_credentials"],
        audiences=[audience],
        scope="org:acme",
    )
    registered = Registered(client.client_id, secret)
    token = await client_credentials(http, registered, resource=audience)
    response = await token_request(
        http, {"token": token["access_token"]}, registered, method=method, path=REVOKE
    )
    assert response.status_code == 200, response.text
    revoked = await walk(http, f"{EVENTS}?tag=oauth:token:revoked&scope=org:acme", root)
    assert [(e["actor"], e["subject"], e["scope"]) for e in revoked] == [
        (f"client:{client.client_id}", f"jti:{_jti(token['access_token'])}", "org:acme")
    ]
    assert revoked[0]["source_ip"] and revoked[0]["request_id"]


def _jti(jwt: str) -> str:
    payload = jwt.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])
