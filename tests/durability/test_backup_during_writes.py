"""A backup taken while writers run restores to a sound database with every entry acknowledged
before the backup began.

`daybook backup` and `daybook restore` run as an operator runs them, against a server with two
workers taking writes through the API and the form; the restore goes into a fresh data
directory (and, on the PostgreSQL run, a fresh database).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.durability.checks import search_finds
from tests.durability.writers import (
    api_token,
    start_writers,
    stop_writers,
    summary,
    wait_for,
)
from tests.live_server import daybook

pytestmark = pytest.mark.durability

WRITTEN_FIRST = 30  # entries acknowledged before the backup starts
SEARCHED = 5


def test_backup_during_writes_restores_what_was_acknowledged_before(
    site_factory, durability_seed, tmp_path
):
    site = site_factory("backup")
    server = site.server(workers=2).start(timeout=90)
    try:
        token = api_token(server.port)
        ledger, stop, writers = start_writers(server.port, token, run_id=f"{durability_seed:x}")
        try:
            assert wait_for(lambda: len(ledger.snapshot()) >= WRITTEN_FIRST, timeout=60), (
                f"the writers could not get {WRITTEN_FIRST} entries acknowledged: "
                f"{summary(writers)}\nserver log:\n{site.log_tail()}"
            )
            before = ledger.snapshot()
            started = time.monotonic()
            backup = daybook(site.env, "backup", "--dest", str(tmp_path / "backups"))
            took = time.monotonic() - started
            during = ledger.snapshot()[len(before) :]
        finally:
            stop_writers(stop, writers)
        after = ledger.snapshot()[len(before) + len(during) :]
    finally:
        server.stop()
    print(
        f"backup took {took:.1f} s; {len(before)} entries acknowledged before it, "
        f"{len(during)} while it ran; writers: {summary(writers)}"
    )
    assert during, f"no write was acknowledged while the backup ran: {summary(writers)}"
    archive = Path(backup.stdout.strip().splitlines()[-1])
    assert archive.is_file(), f"`daybook backup` printed no backup file:\n{backup.stdout}"

    fresh = site_factory("restored", empty=True)
    restore = daybook(fresh.env, "restore", str(archive))
    # The backup is one consistent snapshot: its index cannot disagree with its entries.
    assert "Rebuilt the search index" not in restore.stdout, (
        f"the backup's search index disagreed with its entries:\n{restore.stdout}"
    )
    problems = fresh.checker().problems(before, maybe=during + after)
    assert not problems, (
        f"the restored backup (taken with {len(before)} entries acknowledged, DURABILITY_SEED={durability_seed}):\n"
        + "\n".join(problems)
    )

    restored = fresh.server(workers=1).start(timeout=90)
    try:
        sample = random.Random(durability_seed).sample(before, SEARCHED)
        missing = search_finds(restored.port, token, sample)
    finally:
        restored.stop()
    assert not missing, "the restored server's search does not find:\n" + "\n".join(missing)
