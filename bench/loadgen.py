"""Load generators: wrk when it is on PATH, else a multi-threaded keep-alive http.client loop.

Both hold a fixed number of keep-alive connections open for a fixed time after a short warm-up
and report completed requests per second, median and p99 latency and the non-200 answers.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    median_ms: float
    p99_ms: float
    errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    client_cpu_pct: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


class PathSource:
    """One fixed path, or a random choice among many (the same seed for every run)."""

    def __init__(self, paths: list[str], seed: int = 7):
        self.paths = paths
        self.seed = seed

    def picker(self, thread_no: int):
        if len(self.paths) == 1:
            only = self.paths[0]
            return lambda: only
        rng = random.Random(self.seed * 1000 + thread_no)
        paths = self.paths
        return lambda: rng.choice(paths)


def python_load(
    host: str,
    port: int,
    source: PathSource,
    headers: dict[str, str],
    *,
    connections: int,
    duration: float,
    warmup: float,
) -> LoadResult:
    """Drive the server from `connections` threads, each with one keep-alive connection."""
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter] = [Counter() for _ in range(connections)]
    failure: list[BaseException] = []

    def worker(no: int) -> None:
        pick = source.picker(no)
        mine, counts = latencies[no], statuses[no]
        conn = http.client.HTTPConnection(host, port, timeout=60)
        perf = time.perf_counter
        try:
            while True:
                t0 = perf()
                if t0 >= stop_at:
                    break
                try:
                    conn.request("GET", pick(), headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = str(resp.status)
                    if resp.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=60)
                t1 = perf()
                if measure_from <= t0 and t1 <= stop_at:
                    mine.append(t1 - t0)
                    counts[status] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failure.append(exc)
        finally:
            conn.close()

    cpu0 = time.process_time()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    if failure:
        raise failure[0]
    all_lat = sorted(x for per in latencies for x in per)
    total = Counter()
    for c in statuses:
        total.update(c)
    n = len(all_lat)
    return LoadResult(
        requests=n,
        seconds=duration,
        rps=n / duration,
        median_ms=statistics.median(all_lat) * 1000 if all_lat else float("nan"),
        p99_ms=percentile(all_lat, 99) * 1000,
        errors=sum(v for k, v in total.items() if k != "200"),
        statuses=dict(total),
        client_cpu_pct=100 * cpu / (warmup + duration),
    )


WRK_SCRIPT = """
local paths = {%(paths)s}
local cookie = %(cookie)s
local threads = {}
local counter = 0

setup = function(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

init = function(args)
  math.randomseed(%(seed)d + id)
  non200 = 0
  responses = 0
  if cookie ~= "" then wrk.headers["Cookie"] = cookie end
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end

response = function(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non200") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "median_us": %%f, "p99_us": %%f, ' ..
    '"non200": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect, e.read, e.write, e.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_load(
    host: str,
    port: int,
    source: PathSource,
    headers: dict[str, str],
    *,
    connections: int,
    duration: float,
    warmup: float,
    threads: int = 2,
) -> LoadResult:
    """Drive the server with wrk (-t threads, -c connections), after a separate warm-up run."""
    wrk = wrk_path()
    assert wrk is not None  # noqa: S101 - checked by the caller
    script = WRK_SCRIPT % {
        "paths": ", ".join(_lua_string(p) for p in source.paths),
        "cookie": _lua_string(headers.get("Cookie", "")),
        "seed": source.seed,
    }
    with tempfile.TemporaryDirectory(prefix="daybook-wrk-") as tmp:
        lua = Path(tmp) / "bench.lua"
        lua.write_text(script)
        url = f"http://{host}:{port}/"
        threads = max(1, min(threads, connections))

        def run(seconds: float) -> tuple[dict, float]:
            cmd = [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(lua),
                url,
            ]
            cpu0 = _children_cpu()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            cpu = _children_cpu() - cpu0
            for line in out.splitlines():
                if line.startswith("WRKJSON "):
                    return json.loads(line[len("WRKJSON ") :]), cpu
            raise RuntimeError(f"wrk printed no summary:\n{out}")

        warm_cpu = run(warmup)[1] if warmup > 0 else 0.0
        data, cpu = run(duration)
        cpu += warm_cpu
    seconds = data["duration_us"] / 1e6
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    statuses = {"non-200": data["non200"]} if data["non200"] else {}
    if socket_errors:
        statuses["socket errors"] = socket_errors
    statuses["200 (approx.)"] = data["requests"] - data["non200"]
    return LoadResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds,
        median_ms=data["median_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["non200"] + socket_errors,
        statuses=statuses,
        client_cpu_pct=100 * cpu / (seconds + warmup),
    )


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
