"""The layering of docs/architecture.md, checked by parsing imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "authgate"
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "jinja2")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _is_outer(module: str) -> bool:
    """``authgate.web``/``authgate.cli`` and below (not ``authgate.clients``)."""
    return any(module == p or module.startswith(p + ".") for p in ("authgate.web", "authgate.cli"))


def _package_files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize(
    "package", ["accounts", "audit", "keys", "ratelimit", "sessions", "storage"]
)
def test_domain_and_storage_never_import_the_web(package: str) -> None:
    for path in _package_files(package):
        bad = {m for m in _imports(path) if m.split(".")[0] in WEB_FRAMEWORKS or _is_outer(m)}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_storage_never_imports_domain_services() -> None:
    domain = (
        "authgate.accounts",
        "authgate.sessions",
        "authgate.keys",
        "authgate.audit",
        "authgate.ratelimit",
    )
    for path in _package_files("storage"):
        bad = {m for m in _imports(path) if m.startswith(domain)}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_cli_never_imports_the_web_layer() -> None:
    for path in _package_files("cli"):
        bad = {
            m
            for m in _imports(path)
            if m.startswith("authgate.web") or m.split(".")[0] in ("fastapi", "starlette")
        }
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_protocol_engine_is_pure() -> None:
    """STYLE item 1: the OAuth engine imports no web framework, no database and no
    service; everything stateful comes through its ports."""
    forbidden = ("fastapi", "starlette", "uvicorn", "jinja2", "sqlalchemy", "alembic", "redis")
    allowed_authgate = ("authgate.protocol",)
    for path in _package_files("protocol"):
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in forbidden, f"{path.relative_to(SRC)} imports {module}"
            if top == "authgate":
                assert module.startswith(allowed_authgate), (
                    f"{path.relative_to(SRC)} imports {module}"
                )


@pytest.mark.parametrize(
    "package", ["clients", "apis", "rbac", "tokens", "apikeys", "revocations", "forwardauth"]
)
def test_new_domain_packages_never_import_the_web(package: str) -> None:
    for path in _package_files(package):
        bad = {m for m in _imports(path) if m.split(".")[0] in WEB_FRAMEWORKS or _is_outer(m)}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"
