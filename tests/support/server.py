"""A real ``authgate serve`` process for end-to-end and browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

AUTHGATE = [sys.executable, "-m", "authgate"]
FAST_PASSWORD_TOML = """
[passwords]
argon2_memory_kib = 1024
argon2_time_cost = 1
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env["AUTHGATE_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


def authgate(
    data_dir: Path,
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one CLI command against ``data_dir``, in this process (the real Typer app;
    a subprocess per command would cost seconds of imports each)."""
    from typer.testing import CliRunner

    from authgate.cli.main import app

    wanted = cli_env(data_dir, env)
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    overrides.update({k: v for k, v in wanted.items() if k.startswith("AUTHGATE_")})
    result = CliRunner().invoke(app, list(args), input=stdin, env=overrides)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    completed = subprocess.CompletedProcess(
        ["authgate", *args], result.exit_code, result.stdout, result.stderr
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"authgate {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
        )
    return completed


def authgate_process(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one CLI command as a real process (for what only a process shows)."""
    return subprocess.run(
        [*AUTHGATE, *args],
        capture_output=True,
        text=True,
        env=cli_env(data_dir, env),
        timeout=120,
        check=False,
    )


def init_data_dir(
    data_dir: Path, env: Mapping[str, str] | None = None, *, demo: bool = True
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "authgate.toml").write_text(FAST_PASSWORD_TOML)
    args = ["init", "--admin-password-stdin"] + (["--demo"] if demo else [])
    authgate(data_dir, *args, stdin="admin-password-for-tests\n", env=env)


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return authgate(self.data_dir, *args, stdin=stdin, env=self.env, check=check)


@contextmanager
def running_server(
    data_dir: Path, env: Mapping[str, str] | None = None, *, port: int | None = None
) -> Iterator[RunningServer]:
    """Start ``authgate serve`` on a free port with the issuer set to its URL; stop it after."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {"AUTHGATE_ISSUER": url, **(env or {})}
    log_path = data_dir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*AUTHGATE, "serve", "--port", str(port)],
            env=cli_env(data_dir, full_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(url, data_dir, process, log_path, full_env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"authgate serve exited ({process.returncode}):\n{server.log()}"
                )
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"authgate serve did not start:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
