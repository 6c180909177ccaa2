"""A data directory (and, on the PostgreSQL run, a database) with a user, for live servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import databases
from tests.durability.checks import Checker
from tests.durability.writers import PASSWORD, USERNAME
from tests.live_server import LiveServer, daybook, daybook_env

# The writers go as fast as the server lets them; the API's per-token limit must not be what
# stops them.
UNLIMITED = "1000000/minute"


@dataclass
class Site:
    data_dir: Path
    env: dict[str, str]
    log: Path
    database_url: str | None

    def server(self, workers: int = 2) -> LiveServer:
        return LiveServer({**self.env, "DAYBOOK_WORKERS": str(workers)}, self.log)

    def checker(self) -> Checker:
        return Checker(self.data_dir, self.database_url)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def own_database(postgres_url: str, worker_id: str, suffix: str) -> str:
    """A database of this test's own next to the worker's: killed servers never meet others."""
    return databases.worker_url(databases.TEST_DATABASE_URL or postgres_url, worker_id, suffix)


def make_site(data_dir: Path, log: Path, database_url: str | None, *, empty: bool = False) -> Site:
    """Migrate the database with the CLI and create the writer's account, unless `empty`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # No job worker beside gunicorn: these tests are about the write path, and each restart
    # would boot one more copy of the app.
    settings = {"API_RATE_LIMIT": UNLIMITED, "LOG_LEVEL": "WARNING", "EMBEDDED_WORKER": "0"}
    if database_url:
        settings["DATABASE_URL"] = database_url
    site = Site(data_dir, daybook_env(data_dir, **settings), log, database_url)
    if not empty:
        daybook(site.env, "db", "upgrade")
        daybook(
            site.env,
            "user",
            "create",
            "--username",
            USERNAME,
            "--email",
            f"{USERNAME}@example.com",
            "--password",
            PASSWORD,
        )
    return site


@pytest.fixture
def site_factory(tmp_path, postgres_url, worker_id) -> Iterator:
    """Build sites on the database under test; each PostgreSQL one gets a fresh database.

    `empty=True` leaves the database unmigrated and without users, to restore a backup into.
    """
    created: list[str] = []

    def build(name: str = "site", *, data_dir: Path | None = None, empty: bool = False) -> Site:
        url = None
        if postgres_url is not None:
            url = own_database(postgres_url, worker_id, f"_{name}")
            databases.create(url)
            created.append(url)
        return make_site(
            data_dir or tmp_path / name, tmp_path / f"{name}-gunicorn.log", url, empty=empty
        )

    yield build
    for url in created:
        databases.drop(url)


@pytest.fixture
def durability_seed() -> int:
    """The random seed of this run; DURABILITY_SEED replays a failure's (not DAYBOOK_*: cleared)."""
    raw = os.environ.get("DURABILITY_SEED") or str(int.from_bytes(os.urandom(4), "big"))
    print(f"durability seed: {raw} (DURABILITY_SEED={raw} repeats it)")
    return int(raw)
