"""Where a page's time goes: SQL statements and their plans, and a cProfile of the request.

    .venv/bin/python bench/run.py --entries 100000 --data-dir /tmp/bench-100k --seed-only
    .venv/bin/python bench/profile_pages.py --data-dir /tmp/bench-100k [--path /entries ...]

Runs the app in-process (Flask test client, signed in as the bench user) on a data directory
seeded by run.py, so the figures leave out gunicorn and the network but nothing of the app.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import seed as seeding  # noqa: E402


def add_floor_routes(app) -> None:
    """Two empty pages, to show what every request costs before a view does anything."""
    from flask_login import login_required

    @app.get("/_bench/anonymous")
    def bench_anonymous():
        return "ok"

    @app.get("/_bench/signed-in")
    @login_required
    def bench_signed_in():
        return "ok"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--path", action="append", help="page to profile (repeatable)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-profile", action="store_true", help="only the SQL breakdown")
    args = p.parse_args()

    from sqlalchemy import event

    from daybook import create_app
    from daybook.extensions import db

    data_dir = args.data_dir.resolve()
    facts = json.loads((data_dir / "bench-seed.json").read_text())
    app = create_app(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'daybook.sqlite3'}",
            "LOG_LEVEL": "WARNING",
        }
    )
    add_floor_routes(app)
    paths = args.path or [
        "/_bench/anonymous",
        "/_bench/signed-in",
        "/entries",
        "/entries?page=50",
        f"/entries/{facts['entry_sample'][0]}",
        f"/search?q={facts['search_word']}",
    ]
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    resp = client.post(
        "/login",
        data={"csrf_token": token, "login": seeding.USERNAME, "password": seeding.PASSWORD},
    )
    assert resp.status_code == 302, resp.status_code  # noqa: S101

    with app.app_context():
        engine = db.engine
    statements: list[list] = []

    def _before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        conn.info["t0"] = time.perf_counter()

    def _after(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append([statement, parameters, time.perf_counter() - conn.info["t0"]])

    for path in paths:
        print(f"\n======== {path}")
        for _ in range(20):
            assert client.get(path).status_code == 200  # noqa: S101
        statements.clear()
        event.listen(engine, "before_cursor_execute", _before)
        event.listen(engine, "after_cursor_execute", _after)
        n = args.requests
        t0 = time.perf_counter()
        for _ in range(n):
            client.get(path)
        wall = (time.perf_counter() - t0) / n
        by_sql: dict[str, list] = defaultdict(lambda: [0, 0.0, None])
        for stmt, params, secs in statements:
            key = " ".join(stmt.split())
            by_sql[key][0] += 1
            by_sql[key][1] += secs
            by_sql[key][2] = params
        sql_total = sum(s[2] for s in statements) / n
        print(
            f"{wall * 1000:.2f} ms a request in-process; {len(statements) / n:.1f} SQL statements"
            f" taking {sql_total * 1000:.2f} ms ({sql_total / wall:.0%})"
        )
        with engine.connect() as conn:
            for sql, (count, secs, params) in sorted(by_sql.items(), key=lambda kv: -kv[1][1]):
                if count < n / 10:
                    continue  # the occasional session clean-up
                print(f"  {count / n:4.1f}x {secs / count * 1000:7.3f} ms  {sql[:160]}")
                if sql.upper().startswith("SELECT") and params is not None:
                    try:
                        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
                    except Exception as exc:  # noqa: BLE001 - a plan is a nicety
                        print(f"        (no plan: {exc})")
                        continue
                    for row in plan:
                        print(f"        plan: {row[-1]}")
        event.remove(engine, "before_cursor_execute", _before)
        event.remove(engine, "after_cursor_execute", _after)
        if args.no_profile:
            continue
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            client.get(path)
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
