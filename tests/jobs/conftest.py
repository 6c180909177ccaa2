"""Helpers for the job tests: rows as the database holds them now, retries run on demand, and
worker processes of the test's own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from huey.utils import utcnow as huey_now

from daybook.extensions import db
from daybook.models import Job
from tests.live_server import BIN, ROOT, daybook_env


def job_row(job_id: int) -> Job:
    """Return the job as the database holds it now."""
    db.session.rollback()
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job is not None, f"job {job_id} is gone"
    return job


def scheduled_delays(huey) -> list[float]:
    """Seconds from now until each retry Huey has scheduled, soonest first."""
    now = huey_now()
    return sorted((task.eta - now).total_seconds() for task in huey.scheduled())


def run_retries(huey) -> int:
    """Run every retry Huey has scheduled as if its time had come; return how many ran."""
    later = huey_now() + timedelta(days=1)
    due = huey.read_schedule(later)
    for task in due:
        huey.execute(task, later)
    return len(due)


def wait_for_state(job_id: int, states: tuple[str, ...], timeout: float = 30) -> Job:
    """Poll the job until it is in one of `states`; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = job_row(job_id)
        if job.state in states:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} is {job.state}, not {'/'.join(states)}, after {timeout} s")
        time.sleep(0.1)


class WorkerProcess:
    """A job worker in a process (and process group) of its own, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, args: list[str]):
        self.env, self.log, self.args = env, log, args
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.env["DAYBOOK_DATA_DIR"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def terminate(self, timeout: float = 40) -> int:
        """Send SIGTERM and return the exit status; fail (after killing it) if it hangs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the worker did not stop within {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL whatever is left of its process group, its job processes included."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def worker_env(data_dir, postgres_url):
    """The environment of a worker process on this test's data directory and database."""
    settings = {"DATABASE_URL": postgres_url} if postgres_url else {}
    return daybook_env(data_dir, LOG_LEVEL="INFO", **settings)


@pytest.fixture
def start_worker(tmp_path):
    """Start worker processes; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str, napping: bool = False) -> WorkerProcess:
        if napping:  # the real worker, with the test-only `nap` jobs added
            env = {**env, "PYTHONPATH": str(ROOT)}
            command = [sys.executable, "-m", "tests.jobs.napping_worker", *args]
        else:
            command = [str(BIN / "daybook"), "worker", *args]
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(env, log, command).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
