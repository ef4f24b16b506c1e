"""User accounts on both databases: uniqueness, validation, disable/delete, no half-writes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.storage.models import UserRow

PASSWORD = "a-long-enough-secret"


async def _count_users(container: Container) -> int:
    async with container.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(UserRow))).scalar_one())


async def test_create_and_read_back(container: Container) -> None:
    user = await container.users.create(
        "Alice", CLI, password=PASSWORD, email="alice@example.com", attributes={"department": "eng"}
    )
    again = await container.users.get("alice")
    assert again.id == user.id
    assert again.username == "Alice"
    assert again.email == "alice@example.com"
    assert again.attributes == {"department": "eng"}


async def test_caller_chosen_id_is_kept(container: Container) -> None:
    user = await container.users.create("bob", CLI, user_id="emp-00042")
    assert user.id == "emp-00042"
    assert (await container.users.get_by_id("emp-00042")) is not None


@pytest.mark.parametrize(
    "second",
    ["ALICE", "alice", "\uff21\uff2c\uff29\uff23\uff25", " Alice "],
    ids=["upper", "lower", "fullwidth-nfkc", "padded"],
)
async def test_usernames_are_unique_after_nfkc_and_case_folding(
    container: Container, second: str
) -> None:
    await container.users.create("Alice", CLI)
    with pytest.raises(Conflict):
        await container.users.create(second, CLI)
    assert await _count_users(container) == 1


async def test_duplicate_id_is_refused(container: Container) -> None:
    await container.users.create("one", CLI, user_id="same")
    with pytest.raises(Conflict, match="id"):
        await container.users.create("two", CLI, user_id="same")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": ""}, "empty"),
        ({"username": "x" * 151}, "longer than 150"),
        ({"username": "has space"}, "may contain"),
        ({"username": "bad\ud800"}, "not valid Unicode"),
        ({"username": "ok", "password": "short"}, "too short"),
        ({"username": "ok", "password": "password123"}, "too short|too common"),
        ({"username": "ok", "password": "Password1234"}, "too common"),
        ({"username": "ok", "email": "not-an-email"}, "not an e-mail"),
        ({"username": "ok", "user_id": "has space"}, "id may hold"),
        ({"username": "ok", "attributes": {"1bad": "x"}}, "attribute name"),
        ({"username": "ok", "attributes": {"k": "v" * 2000}}, "at most 1024"),
        ({"username": "ok", "attributes": {"k": "v\udcfe"}}, "not valid Unicode"),
        ({"username": "\u00df" * 150}, "once case-folded"),
    ],
    ids=[
        "empty",
        "overlong",
        "space",
        "surrogate",
        "short-password",
        "common-short",
        "common",
        "email",
        "id",
        "attr-name",
        "attr-value",
        "attr-surrogate",
        "folds-long",
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    container: Container, kwargs: dict[str, object], message: str
) -> None:
    args = dict(kwargs)
    username = args.pop("username")
    with pytest.raises(InvalidInput, match=message):
        await container.users.create(str(username), CLI, **args)  # type: ignore[arg-type]
    assert await _count_users(container) == 0


async def test_update_sets_and_unsets_attributes(container: Container) -> None:
    await container.users.create("carol", CLI, attributes={"a": "1", "b": "2"})
    user = await container.users.update(
        "CAROL", CLI, email="c@example.com", set_attributes={"c": "3"}, unset_attributes=["a"]
    )
    assert user.attributes == {"b": "2", "c": "3"}
    assert user.email == "c@example.com"
    with pytest.raises(InvalidInput, match="no attribute"):
        await container.users.update("carol", CLI, unset_attributes=["zzz"])


async def test_disable_ends_sessions(container: Container) -> None:
    user = await container.users.create("dave", CLI, password=PASSWORD)
    token = await container.sessions.start(
        user.id, "active", ["pwd"], source_ip=None, user_agent=None
    )
    assert await container.sessions.lookup(token) is not None
    await container.users.set_disabled("dave", True, CLI)
    assert await container.sessions.lookup(token) is None
    # Enabling again does not bring the old session back.
    await container.users.set_disabled("dave", False, CLI)
    assert await container.sessions.lookup(token) is None


async def test_delete_removes_user(container: Container) -> None:
    await container.users.create("erin", CLI)
    await container.users.delete("erin", CLI)
    with pytest.raises(NotFound):
        await container.users.get("erin")
    with pytest.raises(NotFound):
        await container.users.delete("erin", CLI)
