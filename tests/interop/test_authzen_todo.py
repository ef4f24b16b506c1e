"""The AuthZEN interop "Todo" scenario through AuthGate's HTTP API, on both databases.

The data are the working group's own files (see the README next to them): the five users
(the PDP's user data) and two decision files — every single evaluation and every batch
must come back as expected. The rules are written in AuthGate's model, not as a table of
answers:

- roles ``viewer`` (``user:can_read_user``, ``todo:can_read_todos``), ``editor`` (inherits
  viewer; ``todo:can_create_todo``), ``admin`` (inherits editor; ``todo:can_delete_todo``)
  and ``evil_genius`` (inherits editor; ``todo:can_update_todo``) — the permission names
  follow the mapping ``resource.type:action.name`` (PRODUCT §6);
- one group per role, holding the users the scenario gives that role, bound to it at /;
- the owner-only grant: the role ``todo-owner`` (update and delete) bound to every group
  whose role is or inherits ``editor``, under the condition
  ``resource.properties.ownerID == subject.properties.email`` (the user's stored e-mail).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.web.app import create_app

#: The OpenID AuthZEN working group's interop data, kept as-is in the repository (see
#: its README for the source commit).
INTEROP_DIR = Path(__file__).parent / "authzen"
TODO_DIR = INTEROP_DIR / "authzen-todo"
DECISION_FILES = (
    "decisions-authorization-api-1_0-01.json",
    "decisions-authorization-api-1_0-02.json",
)
CALLER_SCOPE = "authgate:evaluate authgate:evaluate.explain"

#: role → (permissions, inherited roles): the scenario's rules in AuthGate's model.
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "viewer": (("user:can_read_user", "todo:can_read_todos"), ()),
    "editor": (("todo:can_create_todo",), ("viewer",)),
    "admin": (("todo:can_delete_todo",), ("editor",)),
    "evil_genius": (("todo:can_update_todo",), ("editor",)),
    "todo-owner": (("todo:can_update_todo", "todo:can_delete_todo"), ()),
}
OWNER_ROLE = "todo-owner"
OWNER_ONLY = "resource.properties.ownerID == subject.properties.email"

pytestmark = pytest.mark.skipif(
    not TODO_DIR.is_dir(),
    reason=f"the AuthZEN interop data are not at {TODO_DIR}",
)


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((TODO_DIR / name).read_text()))


def _is_or_inherits(role: str, ancestor: str) -> bool:
    return role == ancestor or any(_is_or_inherits(p, ancestor) for p in ROLES[role][1])


async def load_scenario(container: Container) -> list[str]:
    """Users from the scenario's data, then roles, groups and bindings as above; returns
    the groups made."""
    subjects = _load("pip-subjects.transcribed.json")["subjects"]
    members: dict[str, list[str]] = {}
    for opaque_id, person in subjects.items():
        email = person["id"]
        await container.users.create(email.split("@")[0], CLI, email=email, user_id=opaque_id)
        for role in person["roles"]:
            members.setdefault(role, []).append(opaque_id)
    access = container.access
    for role in ROLES:  # dict order puts every role after the roles it inherits
        permissions, inherits = ROLES[role]
        await access.create_role(CLI, role, permissions, inherits=inherits)
    for role, users in members.items():
        await access.create_group(CLI, role, users)
        await access.bind(CLI, role, f"group:{role}", "/")
        if _is_or_inherits(role, "editor"):
            await access.bind(CLI, OWNER_ROLE, f"group:{role}", "/", OWNER_ONLY)
    return list(members)


@pytest.fixture
async def pdp(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The scenario loaded, and the in-process app with a policy enforcement point's
    token: a client allowed to evaluate (and to see reasons, which failures print)."""
    groups = await load_scenario(container)
    client, secret = await container.clients.create(
        CLI, name="Todo PEP", grant_types=["client_credentials"]
    )
    assert secret is not None
    await container.access.create_role(CLI, "todo-pep", CALLER_SCOPE.split())
    await container.access.bind(CLI, "todo-pep", f"client:{client.client_id}", "/")
    transport = httpx.ASGITransport(app=create_app(container.settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        form = {
            "grant_type": "client_credentials",
            "resource": container.oauth.config.admin_audience,
            "scope": CALLER_SCOPE,
        }
        response = await http.post("/oauth/token", data=form, auth=(client.client_id, secret))
        assert response.status_code == 200, response.text
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield http
    for group in groups:  # the suite's database clean-up leaves groups in place
        await container.access.delete_group(CLI, group)


def _why(case: dict[str, Any], result: Any) -> str:
    return f"{json.dumps(case['request'])}: expected {case['expected']}, got {result}"


@pytest.mark.parametrize("name", DECISION_FILES)
async def test_every_single_evaluation(pdp: httpx.AsyncClient, name: str) -> None:
    cases = _load(name)["evaluation"]
    assert len(cases) == 40
    wrong = []
    for case in cases:
        response = await pdp.post("/access/v1/evaluation", json=case["request"])
        assert response.status_code == 200, response.text
        if response.json()["decision"] is not case["expected"]:
            wrong.append(_why(case, response.json()))
    assert wrong == []


async def test_every_batch(pdp: httpx.AsyncClient) -> None:
    cases = _load(DECISION_FILES[1])["evaluations"]
    assert len(cases) == 3
    wrong = []
    for case in cases:
        response = await pdp.post("/access/v1/evaluations", json=case["request"])
        assert response.status_code == 200, response.text
        got = [{"decision": item["decision"]} for item in response.json()["evaluations"]]
        if got != case["expected"]:
            wrong.append(_why(case, response.json()))
    assert wrong == []


async def test_the_single_evaluations_as_one_batch(pdp: httpx.AsyncClient) -> None:
    """The 40 single cases boxcarred into one Access Evaluations request answer alike."""
    cases = _load(DECISION_FILES[1])["evaluation"]
    body = {"evaluations": [case["request"] for case in cases]}
    response = await pdp.post("/access/v1/evaluations", json=body)
    assert response.status_code == 200, response.text
    got = [item["decision"] for item in response.json()["evaluations"]]
    assert got == [case["expected"] for case in cases]
