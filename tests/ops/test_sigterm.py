"""SIGTERM on a web process: requests in flight are finished, not cut off."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from tests.live_server import LiveServer, create_account, daybook_env

PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(tmp_path, postgres_url):
    settings = {"DATABASE_URL": postgres_url} if postgres_url else {}
    env = daybook_env(tmp_path / "data", **settings)
    (tmp_path / "data").mkdir()
    create_account(env, "ada", PASSWORD)
    live = LiveServer(env, tmp_path / "gunicorn.log").start()
    yield live
    live.stop()


def _token(server: LiveServer) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/api/v1/auth/token",
        json.dumps({"username": "ada", "password": PASSWORD}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def test_a_request_in_flight_is_answered_after_sigterm_then_the_process_exits(server):
    token = _token(server)
    body = json.dumps({"title": "Written during shutdown", "body": "x" * 2000}).encode()
    head = (
        "POST /api/v1/entries HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        # Half the body now: the request is in a worker's hands when the signal arrives.
        sock.sendall(head + body[:1000])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        sock.sendall(body[1000:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 201 CREATED", answer[:500]
    assert b"Written during shutdown" in answer
    # Then gunicorn exits cleanly and takes no new connections.
    assert server.process.wait(timeout=30) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
