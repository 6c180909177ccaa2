"""A Redis server of the test's own, on a spare port, that the test may stop and start again."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.live_server import free_port, missing_service


class RedisServer:
    """redis-server with an append-only file in `directory`, so a restart keeps its data."""

    def __init__(self, directory: Path):
        if shutil.which("redis-server") is None:
            missing_service("redis-server is not installed")
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always"]
            + ["--save", "", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on {self.port} did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Stop the server the way an operator would (SIGTERM); its data stays on disk."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
