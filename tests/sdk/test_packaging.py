"""The SDK installs without AuthGate's server dependencies: it declares only httpx, PyJWT
and cryptography, its core imports no web framework, and nothing in it imports
``authgate``."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

SDK = Path(__file__).resolve().parents[2] / "sdk"
SOURCES = sorted((SDK / "src" / "authgate_sdk").glob("*.py"))
#: Integration modules and the framework each may import.
INTEGRATIONS = {"fastapi.py": {"fastapi"}, "flask.py": {"flask"}, "asgi.py": set()}
ALLOWED = {"httpx", "jwt", "cryptography", "authgate_sdk", "__future__"} | set(
    sys.stdlib_module_names
)


def test_dependencies_are_httpx_pyjwt_and_cryptography_only() -> None:
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    names = sorted(d.split(">")[0].split("[")[0] for d in project["dependencies"])
    assert names == ["cryptography", "httpx", "pyjwt"]
    extras = project["optional-dependencies"]
    assert {name: [d.split(">")[0] for d in deps] for name, deps in extras.items()} == {
        "fastapi": ["fastapi"],
        "flask": ["flask"],
    }


def test_modules_import_only_what_they_may() -> None:
    assert SOURCES
    for path in SOURCES:
        allowed = ALLOWED | INTEGRATIONS.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_importing_the_sdk_loads_no_framework() -> None:
    code = (
        "import sys, authgate_sdk, authgate_sdk.asgi\n"
        "bad = {'fastapi', 'starlette', 'flask', 'authgate'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
