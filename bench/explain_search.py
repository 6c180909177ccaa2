"""Where the search page's SQL time goes, by timing variants of services.search's query.

    .venv/bin/python bench/run.py --entries 100000 --data-dir /tmp/bench-100k --seed-only
    .venv/bin/python bench/explain_search.py --data-dir /tmp/bench-100k [--query WORD]

Each variant runs on a connection opened by the app's own engine (same pragmas) and is timed in
CPU milliseconds (the median of --repeat runs), which other load on the machine disturbs less
than wall time. "same" says whether a variant returns the rows the current query returns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

WEIGHTS = "10.0, 1.0, 5.0"
OPEN, CLOSE = "\x02", "\x03"

CURRENT = f"""
SELECT e.id, highlight(entry_fts, 0, :o, :c) AS title_hl,
       snippet(entry_fts, 1, :o, :c, '…', 24) AS body_snip
FROM entry_fts JOIN entry e ON e.id = entry_fts.rowid
WHERE entry_fts MATCH :q AND e.user_id = :uid AND e.deleted_at IS NULL
ORDER BY bm25(entry_fts, {WEIGHTS}), e.occurred_at DESC LIMIT :limit OFFSET :offset"""

RANK_ONLY = f"""
SELECT e.id FROM entry_fts JOIN entry e ON e.id = entry_fts.rowid
WHERE entry_fts MATCH :q AND e.user_id = :uid AND e.deleted_at IS NULL
ORDER BY bm25(entry_fts, {WEIGHTS}), e.occurred_at DESC LIMIT :limit OFFSET :offset"""

RANK_NO_TIEBREAK = f"""
SELECT e.id FROM entry_fts JOIN entry e ON e.id = entry_fts.rowid
WHERE entry_fts MATCH :q AND e.user_id = :uid AND e.deleted_at IS NULL
ORDER BY bm25(entry_fts, {WEIGHTS}) LIMIT :limit OFFSET :offset"""

FTS_ONLY = f"""
SELECT rowid FROM entry_fts WHERE entry_fts MATCH :q
ORDER BY bm25(entry_fts, {WEIGHTS}) LIMIT :limit OFFSET :offset"""

COUNT = "SELECT count(*) FROM entry_fts WHERE entry_fts MATCH :q"

SNIPPETS_FOR = """
SELECT rowid, highlight(entry_fts, 0, ?, ?), snippet(entry_fts, 1, ?, ?, '…', 24)
FROM entry_fts WHERE entry_fts MATCH ? AND rowid IN ({marks})"""

NEWEST_MATCH = (
    "SELECT rowid FROM entry_fts WHERE entry_fts MATCH :q ORDER BY rowid DESC LIMIT 1 OFFSET :n"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--query", help="a word (default: the seeded search word)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cap", type=int, default=1000, help="matches ranked by the capped variant")
    args = p.parse_args()

    from daybook import create_app
    from daybook.extensions import db

    data_dir = args.data_dir.resolve()
    facts = json.loads((data_dir / "bench-seed.json").read_text())
    word = args.query or facts["search_word"]
    app = create_app(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'daybook.sqlite3'}",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        raw = db.engine.raw_connection()
    conn = raw.driver_connection
    q = f'"{word}"'
    params = {"q": q, "uid": 1, "limit": 21, "offset": 0, "o": OPEN, "c": CLOSE}
    matches = conn.execute(COUNT, params).fetchone()[0]
    live = conn.execute("SELECT count(*) FROM entry WHERE deleted_at IS NULL").fetchone()[0]
    print(f"query {q}: {matches:,} of {live:,} live entries match ({matches / max(1, live):.1%})")
    for pragma in ("cache_size", "mmap_size", "page_size"):
        print(f"  PRAGMA {pragma} = {conn.execute(f'PRAGMA {pragma}').fetchone()[0]}")
    print("plan of the current query:")
    for row in conn.execute("EXPLAIN QUERY PLAN " + CURRENT, params):
        print("   ", row[-1])

    def two_step(rank_sql: str, extra: dict | None = None):
        ids = [r[0] for r in conn.execute(rank_sql, {**params, **(extra or {})})]
        if not ids:
            return []
        sql = SNIPPETS_FOR.format(marks=",".join("?" * len(ids)))
        got = {r[0]: r for r in conn.execute(sql, [OPEN, CLOSE, OPEN, CLOSE, q, *ids])}
        return [got[i] for i in ids]

    def capped():
        row = conn.execute(NEWEST_MATCH, {"q": q, "n": args.cap - 1}).fetchone()
        floor = row[0] if row else 0
        sql = RANK_ONLY.replace("MATCH :q", "MATCH :q AND entry_fts.rowid >= :floor")
        return two_step(sql, {"floor": floor})

    def with_bigger_cache():
        # Left in force: this variant runs last.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA mmap_size = 1073741824")
        return conn.execute(CURRENT, params).fetchall()

    variants = [
        ("current query (services.search)", lambda: conn.execute(CURRENT, params).fetchall()),
        (
            "  same, ranking only (no highlight/snippet)",
            lambda: conn.execute(RANK_ONLY, params).fetchall(),
        ),
        (
            "  ranking only, no occurred_at tie-break",
            lambda: conn.execute(RANK_NO_TIEBREAK, params).fetchall(),
        ),
        (
            "  FTS alone: bm25 over every match, no join",
            lambda: conn.execute(FTS_ONLY, params).fetchall(),
        ),
        ("  count(*) of matches", lambda: conn.execute(COUNT, params).fetchall()),
        ("fix 1: rank, then snippets for the 21 rows", lambda: two_step(RANK_ONLY)),
        (f"fix 2: + rank only the newest {args.cap} matches", capped),
        ("fix 3: current query, 64 MB cache + 1 GB mmap", with_bigger_cache),
    ]
    reference = None
    print(f"\n{'variant':52s} {'CPU ms':>8s} {'wall ms':>8s}  same")
    for name, fn in variants:
        rows = fn()
        cpu, wall = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            rows = fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        if reference is None:
            reference = [tuple(r) for r in rows]
        same = "yes" if [tuple(r) for r in rows] == reference else "no"
        if len(rows) and len(rows[0]) == 1:
            same = "yes (ids)" if [r[0] for r in rows] == [r[0] for r in reference] else "no (ids)"
        print(
            f"{name:52s} {statistics.median(cpu) * 1000:8.2f} {statistics.median(wall) * 1000:8.2f}"
            f"  {same}"
        )
    raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
