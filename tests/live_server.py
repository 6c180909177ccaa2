"""Daybook as a user runs it: real gunicorn (and worker) processes on free loopback ports.

For the suites that must cross process boundaries: the browser, durability, scale-out, SIGTERM
and Redis tests. `LiveServer` starts `gunicorn --config gunicorn.conf.py` with a clean
DAYBOOK_* environment of its own; `daybook()` runs the CLI in the same environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REQUIRE_SERVICES = os.environ.get("DAYBOOK_REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_service(message: str) -> None:
    """Skip the test, or fail it when DAYBOOK_REQUIRE_SERVICES=1 (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (DAYBOOK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(f"{message}; set DAYBOOK_REQUIRE_SERVICES=1 to fail instead")


def daybook_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The process environment for Daybook on `data_dir`: no DAYBOOK_* leaks in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBOOK_")}
    env |= {
        "DAYBOOK_DATA_DIR": str(data_dir),
        "DAYBOOK_SECRET_KEY": "live-server-secret-key-0123456789",
        "DAYBOOK_LOG_LEVEL": "WARNING",
    }
    env |= {f"DAYBOOK_{k}": str(v) for k, v in settings.items()}
    return env


def daybook(env: dict[str, str], *args: str, cwd: Path | None = None, check: bool = True, **kw):
    """Run the `daybook` CLI; with `check`, fail the test with its output when it fails."""
    result = subprocess.run(
        [str(BIN / "daybook"), *args],
        env=env,
        cwd=cwd or env["DAYBOOK_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=kw.pop("timeout", 120),
        **kw,
    )
    if check and result.returncode != 0:
        pytest.fail(f"daybook {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def create_account(env: dict[str, str], username: str, password: str) -> None:
    """Migrate the database and create an account, with the CLI a new user would use."""
    daybook(env, "db", "upgrade")
    daybook(
        env,
        "user",
        "create",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password",
        password,
    )


@dataclass
class LiveServer:
    """One gunicorn serving Daybook; `start()` waits until /healthz answers."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> LiveServer:
        env = {**self.env, "DAYBOOK_PORT": str(self.port), "DAYBOOK_HOST": "127.0.0.1"}
        env.setdefault("DAYBOOK_WORKERS", "1")
        out = self.log.open("a")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=self.env["DAYBOOK_DATA_DIR"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        wait_until_up(self.process, f"{self.url}/healthz", self.log, timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` to gunicorn and wait for it; kill the group if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL gunicorn and all its workers at once, as a power cut would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_until_up(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    pytest.fail(f"the server did not answer within {timeout} s:\n{log.read_text()}")
