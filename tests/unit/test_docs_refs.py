"""The docs cite tests by name; every cited test must exist (docs stay true as code moves)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_cited_test_exists() -> None:
    cited: set[tuple[str, str]] = set()
    for doc in [*ROOT.glob("docs/*.md"), ROOT / "README.md"]:
        cited |= set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", doc.read_text()))
    assert cited, "the docs cite no tests at all"
    missing = [
        f"{path}::{name}"
        for path, name in sorted(cited)
        if not (ROOT / path).exists() or f"def {name}(" not in (ROOT / path).read_text()
    ]
    assert missing == []
