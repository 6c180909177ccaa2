"""Every acknowledged write survives SIGKILL of the whole server, again and again.

Writers send entries through the API and through the form at full speed while gunicorn (two
workers) is killed at random moments. After each restart the database must pass its integrity
check, its search index must agree with the entry table, and every entry whose creation was
acknowledged must be there exactly as it was sent. DURABILITY_SEED=<n> replays a run's timing.
"""

from __future__ import annotations

import random
import re
import time

import pytest

from tests.durability.checks import search_finds
from tests.durability.writers import (
    Sent,
    api_token,
    start_writers,
    stop_writers,
    summary,
)

pytestmark = pytest.mark.durability

KILLS = 20
UP_FOR_S = (0.05, 0.5)  # how long the server runs between a check and the next kill
RESTART_TIMEOUT_S = 90  # two workers booting on a busy 2-core machine
SEARCHED = 5  # acknowledged entries looked up through the restarted server's search, each round
MIN_ACKNOWLEDGED = 40
MIN_BY_FORM = 5


def _sample(acked: list[Sent], rng: random.Random) -> list[Sent]:
    newest = acked[-3:]
    older = acked[:-3]
    return newest + rng.sample(older, min(SEARCHED - len(newest), len(older)))


def test_acknowledged_entries_survive_sigkill(site_factory, durability_seed):
    site = site_factory("sigkill")
    rng = random.Random(durability_seed)
    # One worker with four threads: writes still overlap, and each of the 20 restarts boots
    # one copy of the app, not two.
    server = site.server(workers=1).start(timeout=RESTART_TIMEOUT_S)
    try:
        checker = site.checker()
        token = api_token(server.port)
        ledger, stop, writers = start_writers(server.port, token, run_id=f"{durability_seed:x}")
    except BaseException:
        server.kill()
        raise

    timings = {"restart": 0.0, "check": 0.0}

    def verify(when: str) -> None:
        t0 = time.monotonic()
        acked = ledger.snapshot()
        problems = checker.problems(acked) + search_finds(server.port, token, _sample(acked, rng))
        assert not problems, (
            f"{when}, with {len(acked)} entries acknowledged (DURABILITY_SEED={durability_seed}):\n"
            + "\n".join(problems)
            + f"\nwriters: {summary(writers)}\nserver log:\n{site.log_tail()}"
        )
        timings["check"] += time.monotonic() - t0

    started = time.monotonic()
    try:
        for kill in range(1, KILLS + 1):
            time.sleep(rng.uniform(*UP_FOR_S))
            server.kill()
            t0 = time.monotonic()
            server.start(timeout=RESTART_TIMEOUT_S)
            timings["restart"] += time.monotonic() - t0
            verify(f"after SIGKILL {kill} of {KILLS}")
    finally:
        stop_writers(stop, writers)
        server.kill()
    # Once more with nothing running meanwhile: the last writes in flight were acknowledged or not.
    server.start(timeout=RESTART_TIMEOUT_S)
    try:
        verify("after the last restart, writers stopped")
    finally:
        server.stop()

    acked = ledger.snapshot()
    by_form = sum(1 for s in acked if s.via == "form")
    print(
        f"{KILLS} kills in {time.monotonic() - started:.1f} s (restarts {timings['restart']:.1f} s, "
        f"checks {timings['check']:.1f} s); {len(acked)} entries acknowledged "
        f"({by_form} by form); writers: {summary(writers)}"
    )
    assert len(acked) >= MIN_ACKNOWLEDGED and by_form >= MIN_BY_FORM, (
        f"too few writes were acknowledged to prove anything ({len(acked)}, {by_form} by form): "
        f"{summary(writers)}\nserver log:\n{site.log_tail()}"
    )
    # 503 (storage busy, Retry-After) is an honest answer on a machine this loaded; a 500 is not.
    unexpected = [
        f"{w.via}: {what} × {n}"
        for w in writers
        for what, n in w.outcomes.items()
        if re.search(r"\b5\d\d\b", what) and "503" not in what
    ]
    assert not unexpected, (
        f"the server answered writes with errors: {unexpected}\nserver log:\n{site.log_tail(80)}"
    )
