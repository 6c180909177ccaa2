"""Real worker processes: jobs run from either queue, SIGTERM is graceful, time limits hold, and
gunicorn brings its own worker when embedded."""

from __future__ import annotations

import json
import os
import runpy
import signal
import time
import types
from datetime import timedelta
from pathlib import Path

import pytest

from daybook.extensions import db
from daybook.jobs import enqueue, exports
from daybook.models import utcnow
from tests.factories import make_entry, make_user
from tests.jobs.conftest import job_row, wait_for_state
from tests.jobs.napping_worker import add_naps
from tests.live_server import ROOT, LiveServer
from tests.redis_server import RedisServer


@pytest.fixture
def napping_app(make_app):
    """An app that queues jobs for real workers, and knows the test-only `nap` jobs."""
    app = make_app(JOBS_IMMEDIATE=False)
    add_naps(app)
    with app.app_context():
        yield app


def test_a_worker_on_redis_runs_the_jobs_another_process_queued(
    make_app, worker_env, start_worker, tmp_path
):
    redis = RedisServer(tmp_path / "redis").start()  # skips when there is no Redis
    try:
        app = make_app(JOBS_IMMEDIATE=False, REDIS_URL=redis.url)
        with app.app_context():
            user = make_user("dora")
            make_entry(user, title="Kept")
            old = make_entry(user, title="Old trash")
            old.deleted_at = utcnow() - timedelta(days=60)
            db.session.commit()
            purge = enqueue("trash_purge", params={"days": 30})
            reindex = enqueue("search_reindex")
            worker = start_worker({**worker_env, "DAYBOOK_REDIS_URL": redis.url}, "--workers", "2")

            assert wait_for_state(purge, ("done", "failed")).result == {"purged": 1}
            assert wait_for_state(reindex, ("done", "failed")).state == "done"
            assert worker.terminate() == 0, worker.output()
    finally:
        redis.stop()


def test_sigterm_lets_the_running_job_finish_then_the_worker_exits_0(
    napping_app, worker_env, start_worker
):
    job_id = enqueue("nap", params={"seconds": 3})
    worker = start_worker(worker_env, napping=True)
    wait_for_state(job_id, ("running",))

    signalled = utcnow()
    assert worker.terminate() == 0, worker.output()

    job = job_row(job_id)
    assert (job.state, job.attempts, job.result) == ("done", 1, {"slept": 3.0})
    assert job.finished_at > signalled
    assert "Shutting down gracefully" in worker.output()


def test_a_job_over_its_time_limit_fails_as_timed_out(napping_app, worker_env, start_worker):
    job_id = enqueue("short_nap", params={"seconds": 30})
    worker = start_worker(worker_env, napping=True)

    job = wait_for_state(job_id, ("done", "failed"))

    assert (job.state, job.error) == ("failed", "Timed out after 1 s.")
    assert job.finished_at - job.started_at < timedelta(seconds=10)
    assert worker.terminate() == 0


def test_a_job_still_running_after_the_shutdown_timeout_is_queued_again_and_done_later(
    napping_app, worker_env, start_worker
):
    job_id = enqueue("nap", params={"seconds": 2})
    first = start_worker(worker_env, "--shutdown-timeout", "0.2", napping=True)
    wait_for_state(job_id, ("running",))

    assert first.terminate() == 0, first.output()
    assert job_row(job_id).state == "queued"

    second = start_worker(worker_env, napping=True)
    job = wait_for_state(job_id, ("done", "failed"))
    assert (job.state, job.attempts) == ("done", 2)
    assert second.terminate() == 0


def _group(pgid: int) -> list[int]:
    """Pids of the processes left in a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_the_job_processes_stop_when_the_worker_is_killed_outright(
    napping_app, worker_env, start_worker
):
    job_id = enqueue("nap", params={"seconds": 1})
    worker = start_worker(worker_env, "--workers", "2", napping=True)
    wait_for_state(job_id, ("done",))
    assert len(_group(worker.process.pid)) == 4  # the worker, its scheduler and 2 job processes

    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()

    deadline = time.monotonic() + 15
    while _group(worker.process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(worker.process.pid) == []


def test_gunicorn_runs_a_job_worker_when_embedded_and_stops_it_with_itself(
    make_app, worker_env, tmp_path
):
    app = make_app(JOBS_IMMEDIATE=False)
    with app.app_context():
        user = make_user("erin")
        make_entry(user, title="Exported by the embedded worker")
        job_id = exports.request_export(user, "json")
        server = LiveServer(worker_env, tmp_path / "gunicorn.log").start()
        try:
            assert wait_for_state(job_id, ("done", "failed"), timeout=60).state == "done"
        finally:
            assert server.stop() == 0, (tmp_path / "gunicorn.log").read_text()
        exported = json.loads(exports.download_path(user, job_id).read_text())
        assert [e["title"] for e in exported["entries"]] == ["Exported by the embedded worker"]
    with pytest.raises(ProcessLookupError):
        os.killpg(server.process.pid, 0)  # nothing of its process group is left running


def test_gunicorn_leaves_workers_to_be_started_on_their_own_with_redis(
    monkeypatch, data_dir, capsys
):
    monkeypatch.setenv("DAYBOOK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAYBOOK_REDIS_URL", "redis://127.0.0.1:6379/0")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    server = types.SimpleNamespace()

    config["when_ready"](server)

    assert getattr(server, "daybook_job_worker", None) is None
    assert "Daybook is running" in capsys.readouterr().out


def test_gunicorn_starts_no_worker_when_the_operator_runs_their_own(monkeypatch, data_dir):
    monkeypatch.setenv("DAYBOOK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAYBOOK_EMBEDDED_WORKER", "0")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    server = types.SimpleNamespace()

    config["when_ready"](server)

    assert getattr(server, "daybook_job_worker", None) is None
