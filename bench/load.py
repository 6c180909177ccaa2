"""Load test: many people with think time on the HTML pages, against gunicorn as `make run` serves.

    make load                                                 # 10,000 entries, SQLite + PostgreSQL
    make load LOAD_ARGS="--entries 100000 --databases sqlite"
    .venv/bin/python bench/load.py --help

For each database: seeds N entries (bench/seed.py; on PostgreSQL the same rows are copied over
and indexed with services.search_postgres), starts gunicorn for Daybook and for
bench/hello_app.py with the same settings, runs bench/locustfile.py headless against each
(JournalUser, then HelloUser), and prints a Markdown table per database: each page's
requests/s, p50/p95/p99 latency and errors, Daybook's total throughput as a share of hello's,
and where the CPU went (locust itself, the server, everything else). See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402 - bench/run.py: seeding, gunicorn servers, CPU accounting

LOCUST = Path(sys.executable).with_name("locust")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/daybook_load"
COPIED_CHUNK = 5_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- databases -----------------------------------------------------------------------------------


def copy_sqlite(seed_db: Path, work: Path) -> str:
    """Copy the seeded database (it is changed by the writes under load); return its URL."""
    target = work / "daybook.sqlite3"
    src, dst = sqlite3.connect(seed_db), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return f"sqlite:///{target}"


def _admin(url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return psycopg.connect(
        parsed.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
    )


def postgres_problem(url: str) -> str | None:
    try:
        with _admin(url):
            return None
    except Exception as exc:  # noqa: BLE001 - any reason is reported and the run skipped
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def copy_to_postgres(seed_db: Path, url: str, work: Path) -> str:
    """Create the database afresh, migrate it and copy the seeded rows and index into it."""
    import sqlalchemy as sa
    from flask_migrate import upgrade
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from daybook import create_app
    from daybook.extensions import db
    from daybook.models import Entry, Tag, User, entry_tag
    from daybook.services import search_postgres

    name = sql.Identifier(make_url(url).database)
    with _admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    app = create_app({"DATA_DIR": str(work), "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    source = sa.create_engine(f"sqlite:///{seed_db}")
    with app.app_context():
        upgrade()
        with source.connect() as src, db.engine.begin() as dst:
            for table in (User.__table__, Tag.__table__, Entry.__table__, entry_tag):
                rows = [dict(r) for r in src.execute(sa.select(table)).mappings()]
                for start in range(0, len(rows), COPIED_CHUNK):
                    dst.execute(table.insert(), rows[start : start + COPIED_CHUNK])
                if "id" in table.c:
                    dst.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "  # noqa: S608
                            f'(SELECT max(id) FROM "{table.name}"))'
                        )
                    )
            indexed = src.exec_driver_sql("SELECT rowid, title, body, tags FROM entry_fts").all()
        for row in indexed:
            search_postgres.write(*row)
        db.session.commit()
        db.engine.dispose()
    source.dispose()
    # Vacuum and flush the bulk load now: left to autovacuum and the checkpointer, they ran
    # during the measurement and took most of a core (seen at 100,000 entries).
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return url


def psycopg_url(url: str) -> str:
    """Return a SQLAlchemy URL of this database as a libpq connection string."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- one locust run ------------------------------------------------------------------------------


def database_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine (if any)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                comm = Path(entry.path, "comm").read_text().strip()
            except OSError:
                continue
            if comm == "postgres":
                total += run.proc_cpu_seconds(int(entry.name))
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds of a live process and all its descendants."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += run.proc_cpu_seconds(current)
        todo.extend(run.children_of(current))
    return total


class Counters:
    """CPU seconds of each side at one moment."""

    def __init__(self, server: run.Server, locust_pid: int):
        self.at = time.monotonic()
        self.server = server.cpu_seconds()
        self.locust = tree_cpu(locust_pid)
        self.database = database_cpu()
        self.busy = run.machine_busy_seconds()


def run_locust(args, user_class: str, server: run.Server, out: Path) -> dict:
    """Run one headless locust against `server`; return its stats and the CPU each side used.

    Without --whole-run, locust resets its statistics once every user is spawned (the logins
    happen while they spawn) and --warmup seconds have passed, and the CPU is counted over the
    same window: from then for --run-time.
    """
    prefix = out / f"{server.name}"
    measured = _seconds(args.run_time)
    warmup = 0.0 if args.whole_run else args.warmup
    if warmup > 0:
        # locust's --run-time counts from the start; the spawning takes users / rate seconds
        # (longer on a busy machine), so it is only a backstop here: the locustfile stops the
        # run once the measurement is over.
        cap = args.users / args.spawn_rate * 3 + warmup + measured + 60
        timing = ["--run-time", f"{cap:.0f}s", "--warmup", str(warmup), "--measure", str(measured)]
    else:
        timing = ["--run-time", args.run_time]
    cmd = [
        str(LOCUST),
        "-f",
        str(BENCH_DIR / "locustfile.py"),
        "--headless",
        "--host",
        f"http://{run.HOST}:{server.port}",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        *timing,
        "--think-time",
        str(args.think_time),
        "--logins",
        str(args.logins),
        "--processes",
        str(args.processes),
        "--csv",
        str(prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        *([] if args.whole_run else ["--reset-stats"]),
        user_class,
    ]
    log(f"  locust {user_class} against {server.name}: {args.users} users, {args.run_time}")
    log_path = Path(f"{prefix}-locust.log")
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    start = Counters(server, proc.pid)
    end = None
    warnings = 0
    with log_path.open("w") as locust_log:
        assert proc.stdout is not None  # noqa: S101
        for line in proc.stdout:
            locust_log.write(line)
            warnings += "CPU usage above" in line
            if not args.whole_run and (
                ("Warm-up over" in line) if warmup > 0 else ("All users spawned" in line)
            ):
                start = Counters(server, proc.pid)
            elif end is None and ("--run-time limit reached" in line or "Measurement over" in line):
                end = Counters(server, proc.pid)
    code = proc.wait()
    if end is None:  # no "limit reached" line: count up to the end
        end = Counters(server, proc.pid)
    if code != 0 or not Path(f"{prefix}_stats.csv").exists():
        text = log_path.read_text(errors="replace")
        raise RuntimeError(f"locust exited with {code}:\n{text[-3000:]}")
    wall = end.at - start.at
    locust_cpu = end.locust - start.locust
    server_cpu = end.server - start.server
    db_cpu = end.database - start.database
    busy = end.busy - start.busy
    stats = read_stats(Path(f"{prefix}_stats.csv"))
    requests = next(r["requests"] for r in stats if r["name"] == "Aggregated")
    return {
        "stats": stats,
        "failures": read_failures(Path(f"{prefix}_failures.csv")),
        "measured_s": wall,
        "locust_cpu_pct": 100 * locust_cpu / wall,
        "server_cpu_pct": 100 * server_cpu / wall,
        "server_cpu_ms_per_request": 1000 * server_cpu / max(1, requests),
        "database_cpu_pct": 100 * db_cpu / wall,
        "other_cpu_pct": max(0.0, 100 * (busy - locust_cpu - server_cpu - db_cpu) / wall),
        "locust_cpu_warnings": warnings,
    }


def _seconds(text: str) -> float:
    """Seconds in a locust-style duration: 90, 90s, 2m, 1h."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    return float(text[:-1]) * scale if scale else float(text)


def read_stats(path: Path) -> list[dict]:
    rows = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows.append(
                {
                    "method": row["Type"],
                    "name": row["Name"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "rps": float(row["Requests/s"]),
                    "p50": _ms(row["50%"]),
                    "p95": _ms(row["95%"]),
                    "p99": _ms(row["99%"]),
                }
            )
    return rows


def _ms(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def read_failures(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {
                "method": r["Method"],
                "name": r["Name"],
                "error": r["Error"],
                "count": r["Occurrences"],
            }
            for r in csv.DictReader(f)
        ]


# -- the table -----------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def table(title: str, daybook: dict, hello: dict) -> str:
    hello_total = next(r for r in hello["stats"] if r["name"] == "Aggregated")
    lines = [
        f"#### {title}",
        "",
        "| page | req/s | p50 ms | p95 ms | p99 ms | errors | vs hello |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in daybook["stats"]:
        aggregated = row["name"] == "Aggregated"
        name = "**all Daybook requests**" if aggregated else f"{row['method']} {row['name']}"
        ratio = f"{100 * row['rps'] / hello_total['rps']:.0f}%" if aggregated else ""
        lines.append(
            f"| {name} | {row['rps']:.1f} | {_fmt(row['p50'])} | {_fmt(row['p95'])} | "
            f"{_fmt(row['p99'])} | {row['failures']} | {ratio} |"
        )
    lines.append(
        f"| hello (baseline) | {hello_total['rps']:.1f} | {_fmt(hello_total['p50'])} | "
        f"{_fmt(hello_total['p95'])} | {_fmt(hello_total['p99'])} | {hello_total['failures']} "
        "| 100% |"
    )
    lines += ["", cpu_line("Daybook run", daybook), cpu_line("hello run", hello)]
    for failure in daybook["failures"][:5]:
        lines.append(
            f"- failure: {failure['method']} {failure['name']}: {failure['error']} × "
            f"{failure['count']}"
        )
    return "\n".join(lines)


def cpu_line(label: str, result: dict) -> str:
    warned = (
        f", locust warned of its own CPU {result['locust_cpu_warnings']}×"
        if result["locust_cpu_warnings"]
        else ""
    )
    database = (
        f"; PostgreSQL {result['database_cpu_pct']:.0f}%" if result["database_cpu_pct"] >= 1 else ""
    )
    return (
        f"- {label}: locust {result['locust_cpu_pct']:.0f}% of a core{warned}; gunicorn "
        f"{result['server_cpu_pct']:.0f}% ({result['server_cpu_ms_per_request']:.1f} ms of CPU "
        f"a request){database}; other processes {result['other_cpu_pct']:.0f}% (100% = one core)"
    )


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--entries", type=int, default=10_000, help="entries to seed")
    p.add_argument(
        "--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="database to create (dropped first!) for the PostgreSQL run; env BENCH_POSTGRES_URL",
    )
    p.add_argument("--users", type=int, default=1000, help="locust --users")
    p.add_argument("--spawn-rate", type=float, default=50, help="locust --spawn-rate")
    p.add_argument(
        "--run-time", default="60s", help="seconds measured (after the warm-up): 60s, 2m or 90"
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds after every user is spawned before the figures start: the queue that the"
        " spawning and the logins (argon2id, 0.25 CPU-s each) built up drains meanwhile",
    )
    p.add_argument("--think-time", type=float, default=5.0, help="mean seconds between pages")
    p.add_argument(
        "--logins", type=int, default=50, help="users that sign in; the rest share their sessions"
    )
    p.add_argument("--processes", type=int, default=1, help="locust --processes (-1: per core)")
    p.add_argument(
        "--whole-run",
        action="store_true",
        help="count the spawning (and the logins) too; by default the figures start once every"
        " user is spawned (locust --reset-stats)",
    )
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (DAYBOOK_WORKERS)")
    p.add_argument("--seed", type=int, default=20261122, help="random seed for the generated data")
    p.add_argument(
        "--data-dir", type=Path, help="seed here and keep it; reused by a later run with the same"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and logs")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="where the JSON goes")
    args = p.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - {"sqlite", "postgres"}
    if unknown:
        p.error(f"unknown database {sorted(unknown)}; use sqlite and/or postgres")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, run._raise_on_term)
    temp = Path(tempfile.mkdtemp(prefix="daybook-load-"))
    seed_dir = args.data_dir or temp / "seed"
    seed_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out / f"load-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    servers: list[run.Server] = []
    results: dict[str, dict] = {}
    try:
        facts = run.seeded_data(argparse.Namespace(entries=args.entries, seed=args.seed), seed_dir)
        seed_db = seed_dir / "daybook.sqlite3"
        for database in args.databases:
            work = temp / database
            work.mkdir()
            if database == "postgres":
                problem = postgres_problem(args.postgres_url)
                if problem:
                    log(f"Skipping PostgreSQL: {problem}")
                    continue
                log(f"Copying the {args.entries:,} entries into PostgreSQL ...")
                url = copy_to_postgres(seed_db, args.postgres_url, work)
            else:
                url = copy_sqlite(seed_db, work)
            results[database] = measure(args, database, url, work, out, servers)
            for server in servers:
                server.stop()
            servers.clear()
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            log(f"Kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)

    commit = run.git_commit() or "unknown commit"
    header = (
        f"### Load: {args.users:,} users (spawn {args.spawn_rate:g}/s, think {args.think_time:g} s "
        f"±50%, {args.logins} form logins), {args.run_time}, {facts['live_entries']:,} live "
        f"entries — {commit}, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs "
        f"({run.cpu_model()}), gunicorn {args.workers} workers × 4 threads"
    )
    window = (
        "the whole run, spawning included"
        if args.whole_run
        else f"{args.run_time} from {args.warmup:g} s after every user was spawned"
        if args.warmup > 0
        else "from the moment every user was spawned to the end (locust --reset-stats)"
    )
    header += f"\n\nFigures cover {window}."
    print(header + "\n")
    for database, result in results.items():
        print(table(f"{database} ({facts['live_entries']:,} entries)", *result) + "\n")
    (out / "summary.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "commit": commit, **results},
            indent=2,
        )
    )
    log(f"Logs, CSV and JSON: {out}")
    return 0


def measure(args, database: str, url: str, work: Path, out: Path, servers: list) -> tuple:
    """Serve Daybook and hello on this database; return (Daybook's result, hello's result)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBOOK_")}
    env |= {
        "DAYBOOK_DATA_DIR": str(work),
        "DAYBOOK_DATABASE_URL": url,
        "DAYBOOK_HOST": run.HOST,
        "DAYBOOK_WORKERS": str(args.workers),
    }
    where = out / database
    where.mkdir()
    daybook = run.Server("daybook", [], env, where, "/login")
    hello = run.Server("hello", ["--pythonpath", str(BENCH_DIR), "hello_app:app"], env, where, "/")
    servers.extend([daybook, hello])
    for server in (daybook, hello):
        server.start()
    for server in (daybook, hello):
        server.wait_ready(args.workers)
    log(f"{database}: load average {os.getloadavg()[0]:.2f} before the runs")
    return (
        run_locust(args, "JournalUser", daybook, where),
        run_locust(args, "HelloUser", hello, where),
    )


if __name__ == "__main__":
    sys.exit(main())
