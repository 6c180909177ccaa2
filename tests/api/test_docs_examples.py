"""Every ```sh example in docs/api.md runs, as written, against Daybook under gunicorn."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.live_server import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "api.md"
BIN = Path(sys.executable).parent
# The account the guide's password examples sign in as.
USERNAME = "ada"
PASSWORD = "correct horse battery staple"


def _examples() -> dict[str, str]:
    """Return each ```sh block of the guide, keyed by the line it starts on."""
    text = GUIDE.read_text()
    return {
        f"api.md:{text.count(chr(10), 0, m.start()) + 2}": m.group(1)
        for m in re.finditer(r"^```sh\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    }


EXAMPLES = _examples()


def _call(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Daybook under gunicorn on a fresh data directory; yields the environment examples get."""
    if shutil.which("curl") is None:
        message = "the examples in docs/api.md need curl"
        if os.environ.get("DAYBOOK_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message} (DAYBOOK_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("docs-examples")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBOOK_")}
    env |= {
        "DAYBOOK_DATA_DIR": str(workdir / "data"),
        "DAYBOOK_PORT": str(port),
        "DAYBOOK_WORKERS": "1",
        "DAYBOOK_LOG_LEVEL": "WARNING",
    }
    for args in (
        ["db", "upgrade"],
        ["user", "create", "--username", USERNAME, "--email", "ada@example.com"]
        + ["--password", PASSWORD],
    ):
        result = subprocess.run(
            [BIN / "daybook", *args], cwd=workdir, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr

    log = workdir / "gunicorn.log"
    with log.open("w") as out:
        gunicorn = subprocess.Popen(
            [BIN / "gunicorn", "--config", ROOT / "gunicorn.conf.py"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(gunicorn, f"{base}/api/v1/openapi.json", log)
        login = _call(f"{base}/api/v1/auth/token", {"username": USERNAME, "password": PASSWORD})
        token = _call(
            f"{base}/api/v1/tokens",
            {"name": "docs examples", "scopes": ["read", "write"]},
            login["access_token"],
        )["token"]
        yield {**env, "DAYBOOK": base, "TOKEN": token}, workdir
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            gunicorn.wait()


def test_the_guide_has_examples():
    assert len(EXAMPLES) >= 10, "the ```sh blocks of docs/api.md were not found"


@pytest.mark.parametrize("example", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_example_runs(server, example):
    env, workdir = server
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{example}\n--- stdout\n{result.stdout}\n--- {result.stderr}"
