"""Daybook's benchmark: seed N entries, serve them with gunicorn as `make run` does, measure.

    make bench                                   # 10,000 entries
    make bench BENCH_ARGS="--entries 100000"     # the size the performance budget is set at
    .venv/bin/python bench/run.py --help

Measures the list page, a deep list page, an entry page and a search, and in the same run a bare
Flask "hello" app under the same gunicorn settings; prints a Markdown table (medians of --runs
runs) with each page's throughput as a share of hello's, the web workers' memory, and writes
the figures as JSON to bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import loadgen  # noqa: E402
import seed as seeding  # noqa: E402

HOST = "127.0.0.1"
SEED_FILE = "bench-seed.json"
ENTRY_SAMPLE = 10_000
# (minimum share of hello's throughput, as a fraction) at 100,000 entries: DESIGN.md and issue 2.
TARGETS = {"list": 0.50, "list-deep": 0.50, "entry": 0.50, "search": 0.30}
MEMORY_TARGET_MB = 150


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the bench process dies, even by SIGKILL (Linux only)."""
    os.setsid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """One gunicorn (master and workers) started from gunicorn.conf.py in its own session."""

    def __init__(
        self, name: str, app_args: list[str], env: dict[str, str], log_dir: Path, ready_path: str
    ):
        self.name = name
        self.port = free_port()
        self.env = {**env, "DAYBOOK_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}-gunicorn.log"
        self.ready_path = ready_path
        gunicorn = Path(sys.executable).with_name("gunicorn")
        exe = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
        self.cmd = [*exe, "--config", "gunicorn.conf.py", *app_args]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self, workers: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited.\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", self.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status < 500 and len(self.worker_pids()) >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not answering after {timeout:.0f} s.\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        return children_of(self.proc.pid)

    def cpu_seconds(self) -> float:
        """User+system CPU of the master and its live workers so far."""
        pids = [self.proc.pid, *self.worker_pids()] if self.proc else []
        return sum(proc_cpu_seconds(pid) for pid in pids)

    def memory(self) -> list[dict]:
        return [{"pid": pid, **proc_memory(pid)} for pid in self.worker_pids()]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # its own session (setsid): the group holds master and workers
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        # Workers that outlived their master (they should not) go too.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def children_of(ppid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == ppid:
            pids.append(int(entry.name))
    return sorted(pids)


_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def proc_memory(pid: int) -> dict:
    result = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                result[key] = round(int(value.split()[0]) / 1024, 1)  # kB -> MB
    except OSError:
        pass
    return result


# -- the session cookie --------------------------------------------------------------------------


def _cookie(resp: http.client.HTTPResponse, name: str) -> str | None:
    for header in resp.msg.get_all("Set-Cookie") or []:
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    return None


def login(port: int) -> str:
    """Sign in as the bench user; return the Cookie header value."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    page = resp.read().decode()
    session = _cookie(resp, "daybook_session")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    if resp.status != 200 or not session or not match:
        raise RuntimeError(f"GET /login gave {resp.status} without a session cookie or CSRF token")
    body = urlencode(
        {"csrf_token": match.group(1), "login": seeding.USERNAME, "password": seeding.PASSWORD}
    )
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={
            "Cookie": f"daybook_session={session}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    resp = conn.getresponse()
    resp.read()
    session = _cookie(resp, "daybook_session") or session
    if resp.status != 302:
        raise RuntimeError(f"POST /login gave {resp.status}, not a redirect")
    cookie = f"daybook_session={session}"
    # The first page after login stores the new CSRF token in the session; do it once here.
    conn.request("GET", "/entries", headers={"Cookie": cookie})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"GET /entries after login gave {resp.status}")
    return cookie


def preflight(port: int, path: str, headers: dict[str, str], must_contain: str) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200 or must_contain not in body:
        raise RuntimeError(
            f"GET {path} gave {resp.status}; expected 200 containing {must_contain!r}"
        )
    return len(body.encode())


# -- seeding -------------------------------------------------------------------------------------


def seeded_data(args, data_dir: Path) -> dict:
    """Seed `data_dir` (or reuse a seed made there with the same options); return its facts."""
    facts_file = data_dir / SEED_FILE
    wanted = {"entries": args.entries, "seed": args.seed}
    if facts_file.exists():
        facts = json.loads(facts_file.read_text())
        if {k: facts.get(k) for k in wanted} == wanted:
            log(f"Reusing the {args.entries:,} entries seeded in {data_dir}; migrating it to head.")
            migrate(data_dir)  # as `make run` does before it starts gunicorn
            facts["reused"] = True
            return facts
        raise SystemExit(
            f"{data_dir} holds a different seed ({facts_file}); use another --data-dir."
        )
    if (data_dir / "daybook.sqlite3").exists():
        raise SystemExit(f"{data_dir} already has a database that bench did not seed.")
    from daybook import create_app

    log(f"Seeding {args.entries:,} entries into {data_dir} ...")
    app = create_app(
        {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url(data_dir), "LOG_LEVEL": "WARNING"}
    )
    report = seeding.seed(app, args.entries, seed_value=args.seed)
    facts = {
        **wanted,
        "live_entries": len(report.live_ids),
        "entry_sample": random.Random(args.seed).sample(
            report.live_ids, min(ENTRY_SAMPLE, len(report.live_ids))
        ),
        "search_word": report.search_word,
        "search_matches": report.search_matches,
        "timings": {k: round(v, 2) for k, v in report.timings.items()},
        "db_mb": round(report.db_bytes / 2**20, 1),
        "tags": len(report.tag_names),
    }
    facts_file.write_text(json.dumps(facts))
    t = facts["timings"]
    log(
        f"Seeded {args.entries:,} entries in {t['total_s']:.1f} s (migrate+user {t['migrate_and_user_s']}"
        f" s, templates {t['templates_s']} s, generate {t['generate_s']} s, insert entries"
        f" {t['insert_entries_s']} s, search index {t['insert_index_s']} s); database"
        f" {facts['db_mb']} MB."
    )
    facts["reused"] = False
    return facts


def migrate(data_dir: Path) -> None:
    from flask_migrate import upgrade

    from daybook import create_app
    from daybook.extensions import db

    app = create_app(
        {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url(data_dir), "LOG_LEVEL": "WARNING"}
    )
    with app.app_context():
        upgrade()
        db.engine.dispose()


def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'daybook.sqlite3'}"


# -- measuring -----------------------------------------------------------------------------------


def other_cpu_pct(seconds: float = 2.0) -> float:
    """CPU the rest of the machine uses now (100 = one core busy), sampled over `seconds`."""
    busy0, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100 * (machine_busy_seconds() - busy0) / (time.monotonic() - t0)


def wait_for_quiet(args) -> float:
    """Wait (up to --wait-quiet seconds) until other work uses under --max-other-cpu."""
    if args.wait_quiet <= 0:
        return 0.0
    start = time.monotonic()
    while True:
        other = other_cpu_pct()
        if other <= args.max_other_cpu or time.monotonic() - start >= args.wait_quiet:
            return other
        log(f"    waiting: other processes use {other:.0f}% CPU (> {args.max_other_cpu:g}%)")


def measure(
    server: Server, source: loadgen.PathSource, headers: dict[str, str], args, use_wrk: bool
) -> dict:
    """Measure one endpoint; redo it (up to --retries times) when other work disturbed it."""
    for attempt in range(args.retries + 1):
        wait_for_quiet(args)
        out = measure_once(server, source, headers, args, use_wrk)
        out["attempts"] = attempt + 1
        noisy = out["foreign_cpu_pct"] > args.max_other_cpu
        lopsided = unbalanced(out, args)
        if not noisy and not lopsided:
            break
        if attempt < args.retries:
            why = []
            if noisy:
                why.append(f"other processes used {out['foreign_cpu_pct']:.0f}% CPU")
            if lopsided:
                why.append(f"workers' CPU shares {out['worker_cpu_shares']}")
            log(f"    {' and '.join(why)}; measuring again")
    out["noisy"] = noisy
    out["unbalanced"] = lopsided
    return out


def measure_once(
    server: Server, source: loadgen.PathSource, headers: dict[str, str], args, use_wrk: bool
) -> dict:
    cpu0 = server.cpu_seconds()
    busy0 = machine_busy_seconds()
    pids0 = server.worker_pids()
    per_worker0 = {pid: proc_cpu_seconds(pid) for pid in pids0}
    kwargs = {"connections": args.connections, "duration": args.duration, "warmup": args.warmup}
    if use_wrk:
        result = loadgen.wrk_load(
            HOST, server.port, source, headers, threads=args.wrk_threads, **kwargs
        )
    else:
        result = loadgen.python_load(HOST, server.port, source, headers, **kwargs)
    cpu = server.cpu_seconds() - cpu0
    busy = machine_busy_seconds() - busy0
    out = result.as_dict()
    wall = args.warmup + args.duration
    # What neither the server nor the load generator used: other work on the machine (noise).
    out["foreign_cpu_pct"] = max(0.0, 100 * (busy - cpu) / wall - (result.client_cpu_pct or 0))
    # Server CPU per request over warm-up and measurement together, assuming the same rate.
    approx_requests = result.rps * wall
    out["server_cpu_ms_per_req"] = 1000 * cpu / approx_requests if approx_requests else None
    out["server_cpu_pct"] = 100 * cpu / wall
    # Keep-alive connections stay with the worker that accepted them, and all 8 can land on
    # one worker, which then uses one core while the other idles. Record how the work was shared.
    per_worker = [proc_cpu_seconds(pid) - per_worker0[pid] for pid in pids0]
    total = sum(per_worker)
    out["worker_cpu_shares"] = (
        sorted((round(w / total, 2) for w in per_worker), reverse=True) if total else []
    )
    if server.worker_pids() != pids0:
        out["workers_restarted"] = True
    return out


def unbalanced(out: dict, args) -> bool:
    """True when one worker did nearly all the work although there were more workers than that."""
    shares = out.get("worker_cpu_shares") or []
    return len(shares) >= 2 and min(args.workers, os.cpu_count() or 1) >= 2 and shares[0] > 0.8


def median(values: list[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[dict[str, dict]], names: list[str]) -> dict[str, dict]:
    summary = {}
    for name in names:
        per_run = [r[name] for r in runs]
        ratios = [r[name]["rps"] / r["hello"]["rps"] for r in runs if r["hello"]["rps"]]
        summary[name] = {
            "rps": median([p["rps"] for p in per_run]),
            "rps_runs": [round(p["rps"], 1) for p in per_run],
            "median_ms": median([p["median_ms"] for p in per_run]),
            "p99_ms": median([p["p99_ms"] for p in per_run]),
            "errors": sum(p["errors"] for p in per_run),
            "requests": sum(p["requests"] for p in per_run),
            "ratio": median(ratios),
            "server_cpu_ms_per_req": median([p["server_cpu_ms_per_req"] for p in per_run]),
            "client_cpu_pct": median([p["client_cpu_pct"] for p in per_run]),
            "foreign_cpu_pct_runs": [round(p["foreign_cpu_pct"]) for p in per_run],
            "unbalanced_runs": [bool(p.get("unbalanced")) for p in per_run],
        }
    return summary


def table(summary: dict[str, dict], paths: dict[str, str], entries: int) -> str:
    at_budget = entries >= 100_000
    lines = [
        "| endpoint | req/s | median ms | p99 ms | errors | % of hello | target | server CPU ms/req"
        " | req/s per run (other CPU %) |",
        "|---|--:|--:|--:|--:|--:|---|--:|---|",
    ]
    for name, s in summary.items():
        target = TARGETS.get(name)
        if name == "hello":
            verdict = "baseline"
        elif target is None:
            verdict = "(no target: every signed-in request's own cost)"
        else:
            ok = s["ratio"] >= target and s["errors"] == 0
            verdict = f"≥ {target:.0%} " + ("ok" if ok else "**short**")
            if not at_budget:
                verdict += " (set for 100k)"
        per_run = " / ".join(
            f"{x:.0f} ({o}%{', one worker' if u else ''})"
            for x, o, u in zip(
                s["rps_runs"], s["foreign_cpu_pct_runs"], s["unbalanced_runs"], strict=True
            )
        )
        lines.append(
            f"| {name} `{paths[name]}` | {s['rps']:.0f} | {s['median_ms']:.2f} | {s['p99_ms']:.2f}"
            f" | {s['errors']} | {s['ratio']:.0%} | {verdict} | {s['server_cpu_ms_per_req']:.2f}"
            f" | {per_run} |"
        )
    return "\n".join(lines)


def memory_lines(memory: dict[str, list[dict]]) -> tuple[str, float]:
    """Each worker's memory; the target is judged on private memory (RssAnon).

    RSS also counts file pages the worker has mapped (RssFile: the interpreter, shared
    libraries), which the kernel shares between processes and can drop at will.
    """
    lines = []
    worst = 0.0
    for name, workers in memory.items():
        rss = [w.get("VmRSS", 0.0) for w in workers]
        anon = [w.get("RssAnon", 0.0) for w in workers]
        hwm = [w.get("VmHWM", 0.0) for w in workers]
        if name == "daybook":
            worst = max(anon, default=0.0)
        lines.append(
            f"- {name} workers: RSS {', '.join(f'{x:.1f}' for x in rss)} MB, of it private"
            f" {', '.join(f'{x:.1f}' for x in anon)} MB (peak RSS"
            f" {', '.join(f'{x:.1f}' for x in hwm)} MB)"
        )
    verdict = "ok" if worst < MEMORY_TARGET_MB else "**over**"
    lines.append(
        f"- largest Daybook worker after the load: {worst:.1f} MB private (RssAnon), target <"
        f" {MEMORY_TARGET_MB} MB: {verdict}. RSS also counts mapped file pages (the interpreter,"
        " shared libraries), shared with other processes. The peak includes argon2's 64 MiB per"
        " password hash: the dummy hash at import and the bench's login"
    )
    return "\n".join(lines), worst


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "daybook", "migrations"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--entries", type=int, default=10_000, help="entries to seed")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (DAYBOOK_WORKERS)")
    p.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    p.add_argument(
        "--duration", type=float, default=10, help="seconds measured per endpoint and run"
    )
    p.add_argument(
        "--warmup", type=float, default=2, help="seconds of load before each measurement"
    )
    p.add_argument(
        "--runs", type=int, default=3, help="runs over all endpoints; the table shows medians"
    )
    p.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when on PATH, else the Python client",
    )
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk -t")
    p.add_argument("--deep-page", type=int, default=50, help="page number of the deep list page")
    p.add_argument("--query", help="search for this instead of the seeded word in ~10%% of entries")
    p.add_argument("--seed", type=int, default=20261122, help="random seed for the generated data")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="seed here and keep it; a later run with the same --entries/--seed reuses it",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory and logs")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="where the JSON goes")
    p.add_argument(
        "--max-other-cpu",
        type=float,
        default=25,
        help="%% of a core other processes may use during a measurement before it is called"
        " noisy (redone up to --retries times, then flagged)",
    )
    p.add_argument("--retries", type=int, default=2, help="re-measurements of a noisy measurement")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=30,
        help="seconds to wait before each measurement for other processes to quieten (0: none)",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the empty signed-in page (bench/floor_app.py)",
    )
    p.add_argument("--seed-only", action="store_true", help="seed (with --data-dir) and stop")
    args = p.parse_args(argv)
    if args.entries < 1 or args.runs < 1 or args.connections < 1 or args.duration <= 0:
        p.error("--entries, --runs, --connections and --duration must be positive")
    if not 1 <= args.workers <= 64:
        p.error("--workers must be between 1 and 64")
    return args


def _raise_on_term(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl+C raises KeyboardInterrupt even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_on_term)
    signal.signal(signal.SIGHUP, _raise_on_term)
    if args.loadgen == "wrk" and not loadgen.wrk_path():
        raise SystemExit("--loadgen wrk: wrk is not on PATH (apt-get install wrk).")
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and loadgen.wrk_path() is not None)

    temp_dir = None
    if args.data_dir:
        data_dir = args.data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        temp_dir = Path(tempfile.mkdtemp(prefix="daybook-bench-"))
        data_dir = temp_dir / "data"
        data_dir.mkdir()
    log_dir = (temp_dir or data_dir) / "logs"
    log_dir.mkdir(exist_ok=True)
    servers: list[Server] = []
    try:
        facts = seeded_data(args, data_dir)
        if args.seed_only:
            return 0
        return benchmark(args, facts, data_dir, log_dir, servers, use_wrk)
    except KeyboardInterrupt:
        log("Interrupted; stopping the servers.")
        return 130
    finally:
        for server in servers:
            server.stop()
        if temp_dir is not None:
            if args.keep:
                log(f"Kept {temp_dir}")
            else:
                shutil.rmtree(temp_dir, ignore_errors=True)


def benchmark(
    args, facts: dict, data_dir: Path, log_dir: Path, servers: list[Server], use_wrk: bool
) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYBOOK_")}
    env.update(
        {
            "DAYBOOK_DATA_DIR": str(data_dir),
            "DAYBOOK_DATABASE_URL": database_url(data_dir),
            "DAYBOOK_HOST": HOST,
            "DAYBOOK_WORKERS": str(args.workers),
        }
    )
    daybook = Server("daybook", [], env, log_dir, "/login")
    hello = Server("hello", ["--pythonpath", str(BENCH_DIR), "hello_app:app"], env, log_dir, "/")
    servers.extend([daybook, hello])
    floor = None
    if args.floor:
        floor = Server(
            "floor", ["--pythonpath", str(BENCH_DIR), "floor_app:app"], env, log_dir, "/login"
        )
        servers.append(floor)
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready(args.workers)
    cookie = login(daybook.port)
    headers = {"Cookie": cookie}
    word = args.query or facts["search_word"]
    # A small seed has fewer pages: take its last full page then.
    deep_page = max(1, min(args.deep_page, facts["live_entries"] // 20))
    paths = {
        "hello": "/",
        **({"signed-in-empty": "/_bench/empty"} if floor else {}),
        "list": "/entries",
        "list-deep": f"/entries?page={deep_page}",
        "entry": "/entries/<random id>",
        "search": f"/search?q={word}",
    }
    sources = {
        "hello": loadgen.PathSource(["/"]),
        "signed-in-empty": loadgen.PathSource(["/_bench/empty"]),
        "list": loadgen.PathSource(["/entries"]),
        "list-deep": loadgen.PathSource([paths["list-deep"]]),
        "entry": loadgen.PathSource([f"/entries/{i}" for i in facts["entry_sample"]]),
        "search": loadgen.PathSource([f"/search?q={word}"]),
    }
    preflight(hello.port, "/", {}, "hello")
    if floor:
        preflight(floor.port, "/_bench/empty", headers, "ok")
    page_bytes = {
        "list": preflight(daybook.port, "/entries", headers, 'class="entry-list"'),
        "list-deep": preflight(daybook.port, paths["list-deep"], headers, 'class="entry-list"'),
        "entry": preflight(daybook.port, sources["entry"].paths[0], headers, 'class="prose"'),
        "search": preflight(daybook.port, paths["search"], headers, "<mark>"),
    }
    names = list(paths)
    loadgen_name = "wrk" if use_wrk else "python (http.client threads)"
    log(
        f"Load: {loadgen_name}, {args.connections} connections, {args.warmup:g} s warm-up +"
        f" {args.duration:g} s per endpoint, {args.runs} run(s); {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}."
    )
    load_before = os.getloadavg()
    runs: list[dict[str, dict]] = []
    started = time.monotonic()
    for run_no in range(1, args.runs + 1):
        run: dict[str, dict] = {}
        for name in names:
            server = {"hello": hello, "signed-in-empty": floor}.get(name, daybook)
            hdrs = {} if name == "hello" else headers
            run[name] = measure(server, sources[name], hdrs, args, use_wrk)
            r = run[name]
            log(
                f"  run {run_no} {name:<10} {r['rps']:8.1f} req/s  median {r['median_ms']:6.2f} ms"
                f"  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}"
                f"  server CPU {r['server_cpu_ms_per_req']:.2f} ms/req"
                f"  client CPU {r['client_cpu_pct']:.0f}%  other CPU {r['foreign_cpu_pct']:.0f}%"
                f"  worker CPU shares {r['worker_cpu_shares']}"
            )
        runs.append(run)
    memory = {"daybook": daybook.memory(), "hello": hello.memory()}
    if floor:
        memory["floor"] = floor.memory()
    summary = summarise(runs, names)
    mem_text, worst_mb = memory_lines(memory)

    title = (
        f"Daybook bench — {args.entries:,} entries ({facts['live_entries']:,} live,"
        f" db {facts['db_mb']} MB), gunicorn gthread {args.workers} workers × 4 threads,"
        f" {loadgen_name}, {args.connections} connections, {args.duration:g} s × {args.runs} runs"
        f" (medians), commit {git_commit()}"
    )
    print(f"\n### {title}\n")
    print(table(summary, paths, args.entries))
    print()
    print(
        f"- search word `{word}`"
        + (
            f" matches {facts['search_matches']:,} entries"
            f" ({facts['search_matches'] / max(1, facts['live_entries']):.1%})"
            if not args.query
            else ""
        )
    )
    print("- page sizes: " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in page_bytes.items()))
    print(
        f"- seeding: {facts['timings']['total_s']} s" + (" (reused)" if facts.get("reused") else "")
    )
    print(mem_text)
    print(
        f"- {os.cpu_count()} CPUs ({cpu_model()}), load average before"
        f" {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; measuring took"
        f" {time.monotonic() - started:.0f} s"
    )
    print(
        f"- targets apply at 100,000 entries: list and entry ≥ 50% of hello, search ≥ 30%,"
        f" a worker < {MEMORY_TARGET_MB} MB"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_file = args.out / f"{stamp}-{args.entries}.json"
    out_file.write_text(
        json.dumps(
            {
                "title": title,
                "when": stamp,
                "commit": git_commit(),
                "options": {
                    k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                },
                "loadgen": loadgen_name,
                "paths": paths,
                "page_bytes": page_bytes,
                "seed": {k: v for k, v in facts.items() if k != "entry_sample"},
                "search_word": word,
                "summary": summary,
                "runs": runs,
                "memory_mb": memory,
                "worst_worker_mb": worst_mb,
                "targets": {**{k: v for k, v in TARGETS.items()}, "memory_mb": MEMORY_TARGET_MB},
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu": cpu_model(),
                    "load_before": load_before,
                    "load_after": os.getloadavg(),
                    "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version,
                },
            },
            indent=2,
            default=_json_default,
        )
    )
    print(f"\nJSON: {out_file.relative_to(REPO) if out_file.is_relative_to(REPO) else out_file}")
    bad = sum(s["errors"] for s in summary.values())
    return 1 if bad else 0


def _json_default(value):
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
