"""docs/events.md lists exactly the audit tags the code can write."""

from __future__ import annotations

import re
from pathlib import Path

from authgate.audit.events import AuditTag

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_every_tag_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `([a-z:-]+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert documented == {tag.value for tag in AuditTag}


def test_tags_are_namespaced() -> None:
    for tag in AuditTag:
        assert re.fullmatch(r"[a-z]+(:[a-z-]+)+", tag.value), tag


def test_the_scope_of_every_tag_is_documented() -> None:
    """The "Scopes" table names, for every tag, which scope its events carry."""
    text = DOC.read_text()
    table = text[text.index("## Scopes") : text.index("## Tags")]
    names = [
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([a-z:*-]+)`", line.split("|")[1])
    ]
    for tag in AuditTag:
        assert any(
            tag.value == name or (name.endswith(":*") and tag.value.startswith(name[:-1]))
            for name in names
        ), f"docs/events.md does not say which scope {tag.value} carries"
