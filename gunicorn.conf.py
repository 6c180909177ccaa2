"""gunicorn settings for Daybook, read from the same DAYBOOK_* variables as the app."""

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from daybook.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:  # one sentence and a non-zero exit, never a traceback
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(2)

wsgi_app = "daybook:create_app()"
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 30
keepalive = 5
# The app logs each request itself, with its request id and user.
accesslog = None
errorlog = "-"
loglevel = "warning"
preload_app = False


def post_worker_init(worker):
    # The app is loaded: keep its modules, templates and caches out of every later garbage
    # collection, so that the full ones, which would walk them all, stay short.
    gc.collect()
    gc.freeze()


def when_ready(server):
    host = "localhost" if _settings.host in ("127.0.0.1", "0.0.0.0", "::") else _settings.host  # noqa: S104
    print(f"Daybook is running at http://{host}:{_settings.port}/  (Ctrl+C stops it)", flush=True)
    _start_job_worker(server)


# Metrics (DAYBOOK_METRICS=1): each worker writes its request counts to files in one directory
# per gunicorn run, and /metrics sums them. prometheus-client chooses that storage when a worker
# first imports it, so the directory is in the environment before any worker starts.
_METRICS_DIR_PREFIX = "daybook-metrics-"


def _start_metrics_dir() -> None:
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(given or tempfile.mkdtemp(prefix=_METRICS_DIR_PREFIX))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's counts are not this run's
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def on_starting(server):
    if _settings.metrics:
        _start_metrics_dir()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    _stop_job_worker(server)
    # Only the directory made above; this file runs afresh on a reload (HUP), so no flag is kept.
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
    if directory.name.startswith(_METRICS_DIR_PREFIX) and directory.parent == Path(
        tempfile.gettempdir()
    ):
        shutil.rmtree(directory, ignore_errors=True)


# Jobs, embedded (no DAYBOOK_REDIS_URL): the master starts one `daybook worker` beside the web
# workers and stops it last, so that `make run` is the only command to run. With Redis, workers
# are started on their own (deploy/systemd/daybook-worker.service). The child is kept on the
# arbiter, which outlives a reload of this file; it stops by itself if the master dies.
_JOB_WORKER_STOP_S = 35  # its --shutdown-timeout (25 s) for running jobs, and some


def _job_worker_command() -> list[str]:
    script = Path(sys.executable).with_name("daybook")
    if script.exists():
        base = [str(script)]
    else:
        base = [sys.executable, "-c", "from daybook.cli import main; main()"]
    return [*base, "worker", "--parent-pid", str(os.getpid())]


def _start_job_worker(server) -> None:
    if _settings.redis_url or not _settings.embedded_worker:
        return
    # Only web workers serve /metrics: the job worker keeps out of their counts.
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    server.daybook_job_worker = subprocess.Popen(_job_worker_command(), env=env)  # noqa: S603


def _stop_job_worker(server, wait: bool = True) -> None:
    process = getattr(server, "daybook_job_worker", None)
    server.daybook_job_worker = None
    if process is None or process.poll() is not None:
        return
    process.terminate()  # SIGTERM: running jobs finish, or are queued again
    if wait:
        try:
            process.wait(timeout=_JOB_WORKER_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def on_reload(server):
    # HUP: new code and settings for the jobs too. The old worker finishes its jobs meanwhile.
    _stop_job_worker(server, wait=False)
    _start_job_worker(server)
