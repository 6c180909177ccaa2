"""The load scenario's page mix, in-process: statements, time and instructions a request.

    .venv/bin/python bench/run.py --entries 10000 --data-dir /tmp/load-seed-10k --seed-only
    .venv/bin/python bench/mix.py --data-dir /tmp/load-seed-10k                 # time, statements
    .venv/bin/python bench/mix.py --data-dir /tmp/load-seed-10k --instructions  # callgrind

One round is what 12 of locustfile.py's users do, by its weights: 4 list pages (one an older
page), 4 entry pages, 2 searches, a new entry (form, POST, its page) and an edit (form, POST,
its page): 16 requests. Flask's test client runs them in this process, signed in as the bench
user, so gunicorn and the network are left out and nothing of the app is.

`--instructions` runs the rounds twice under `valgrind --tool=callgrind`, once with none
measured, and divides the difference by the requests: instructions do not depend on how busy
the machine is, so two commits compare to a percent where timings under load differ by 15%.
`--database-url` runs against a PostgreSQL database that load.py prepared (daybook_load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import seed as seeding  # noqa: E402

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_VERSION = re.compile(r'name="version"[^>]*value="(\d+)"')
ROUND_REQUESTS = 16


def _app(data_dir: Path, database_url: str | None, work_dir: Path):
    """The app on a copy of the seeded SQLite file (the mix writes), or on database_url."""
    from daybook import create_app

    if database_url is None:
        source = sqlite3.connect(data_dir / "daybook.sqlite3")
        copy = sqlite3.connect(work_dir / "daybook.sqlite3")
        source.backup(copy)
        source.close()
        copy.close()
        database_url = f"sqlite:///{work_dir / 'daybook.sqlite3'}"
    return create_app(
        {
            "DATA_DIR": str(work_dir),
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
    )


class Mix:
    def __init__(self, app, facts: dict):
        self.client = app.test_client()
        self.rng = random.Random(7)
        self.ids = facts["entry_sample"]
        self.word = facts["search_word"]
        page = self.client.get("/login").get_data(as_text=True)
        self.token = _CSRF.search(page).group(1)
        signed_in = self.client.post(
            "/login",
            data={
                "csrf_token": self.token,
                "login": seeding.USERNAME,
                "password": seeding.PASSWORD,
            },
        )
        if signed_in.status_code != 302:
            raise SystemExit(f"could not sign in: {signed_in.status_code}")

    def _get(self, path: str) -> str:
        response = self.client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
        text = response.get_data(as_text=True)
        found = _CSRF.search(text)
        if found:
            self.token = found.group(1)
        return text

    def _post(self, path: str, fields: dict) -> str:
        response = self.client.post(path, data={"csrf_token": self.token, **fields})
        if response.status_code not in (302, 303):
            raise SystemExit(f"POST {path}: {response.status_code}")
        return response.headers["Location"]

    def round(self) -> None:
        entry = self.rng.choice(self.ids)
        self._get("/entries")
        self._get("/entries")
        self._get("/entries")
        self._get(f"/entries?page={self.rng.randint(2, 50)}")
        for _ in range(4):
            self._get(f"/entries/{self.rng.choice(self.ids)}")
        self._get(f"/search?q={self.word}")
        self._get("/search?q=review")
        self._get("/entries/new")
        fields = {"title": "Mix note", "body": "Wrote this.\n\n- [ ] follow up\n", "tags": "load"}
        self._get(self._post("/entries/new", {**fields, "occurred_at": "", "action": "save"}))
        form = self._get(f"/entries/{entry}/edit")
        version = _VERSION.search(form).group(1)
        edited = {**fields, "occurred_at": "", "version": version, "action": "save"}
        self._get(self._post(f"/entries/{entry}/edit", edited))


def _statements(app):
    from sqlalchemy import event

    from daybook.extensions import db

    with app.app_context():
        engine = db.engine
    sent: list[str] = []
    event.listen(
        engine, "after_cursor_execute", lambda _c, _k, statement, *_a: sent.append(statement)
    )
    return sent


def _run(args) -> int:
    data_dir = args.data_dir.resolve()
    facts = json.loads((data_dir / "bench-seed.json").read_text())
    with tempfile.TemporaryDirectory(prefix="daybook-mix-") as work_dir:
        return _measure(args, _app(data_dir, args.database_url, Path(work_dir)), facts)


def _measure(args, app, facts: dict) -> int:
    mix = Mix(app, facts)
    for _ in range(args.warm):
        mix.round()
    if args.rounds_only is not None:  # under callgrind: wait for its dump after the warm-up
        print("warm", flush=True)
        sys.stdin.readline()
        for _ in range(args.rounds_only):
            mix.round()
        print("done", flush=True)
        sys.stdin.readline()
        return 0
    sent = _statements(app)
    started_cpu, started = time.process_time(), time.perf_counter()
    for _ in range(args.rounds):
        mix.round()
    requests = args.rounds * ROUND_REQUESTS
    cpu = (time.process_time() - started_cpu) / requests * 1000
    wall = (time.perf_counter() - started) / requests * 1000
    print(
        f"{requests} requests: {cpu:.2f} ms CPU, {wall:.2f} ms wall a request; "
        f"{len(sent) / requests:.2f} statements a request"
    )
    return 0


def _count_instructions(args) -> int:
    """Instructions of the measured rounds alone, between two dumps of callgrind's counts."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
            sys.executable, __file__, "--data-dir", str(args.data_dir),
            "--warm", str(args.warm), "--rounds-only", str(args.rounds),
        ]  # fmt: skip
        if args.database_url:
            command += ["--database-url", args.database_url]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        child = subprocess.Popen(  # noqa: S603
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # Each dump holds the counts since the one before: the second is the measured rounds.
        for expected in ("warm", "done"):
            if child.stdout.readline().strip() != expected:
                raise SystemExit(f"the mix under callgrind stopped before it was {expected}")
            dump = ["callgrind_control", "--dump", str(child.pid)]
            subprocess.run(dump, check=True, capture_output=True)  # noqa: S603
            child.stdin.write("go\n")
            child.stdin.flush()
        child.communicate()
        if child.returncode:
            raise SystemExit(f"the mix under callgrind failed ({child.returncode})")
        dumps = sorted(Path(tmp).glob("callgrind.out.*"), key=lambda f: f.stat().st_mtime)
        for line in dumps[1].read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="seeded by run.py or load.py")
    p.add_argument("--database-url", help="default: the SQLite file in --data-dir")
    p.add_argument("--rounds", type=int, default=30, help="rounds of 16 requests measured")
    p.add_argument("--warm", type=int, default=3, help="rounds before measuring")
    p.add_argument("--instructions", action="store_true", help="count with callgrind")
    p.add_argument("--rounds-only", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.instructions:
        return _run(args)
    per_request = _count_instructions(args) / (args.rounds * ROUND_REQUESTS)
    print(f"{per_request / 1e6:.2f} million instructions a request ({args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
