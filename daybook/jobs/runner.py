"""Running jobs: each inside an app context with its state recorded, and the worker around them.

The worker is a Huey consumer of processes, not threads: a job over its time limit is stopped
by an alarm signal, which only a process's main thread receives (a thread cannot be stopped),
and CPU-heavy jobs run in parallel. The limit covers the job's own work only, never the
recording of its state, so a job is never left `running` by its limit. SIGTERM is the worker's
graceful signal: running jobs finish (for up to `shutdown_timeout` seconds, after which they
are interrupted and queued again) and the worker exits 0. SIGINT (Ctrl+C) stops at once,
queueing the interrupted jobs again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask
from huey import signals
from huey.api import Huey, Task
from huey.consumer import Consumer, Scheduler, Worker
from huey.exceptions import TaskTimeout
from sqlalchemy.exc import SQLAlchemyError

from daybook.database import write_intent
from daybook.errors import DaybookError
from daybook.extensions import db
from daybook.jobs import records
from daybook.jobs.queue import JobKind, get_huey, kinds
from daybook.models import Job
from daybook.request_log import log

DEFAULT_WORKERS = 2
DEFAULT_SHUTDOWN_TIMEOUT = 25.0
MAX_REASON = 500
# Set on the app by run_worker: only worker processes enforce time limits.
IN_WORKER = "daybook.jobs.in_worker"


class WorkerError(DaybookError):
    """The worker cannot start; the message is one sentence for the operator."""


class JobTimeout(TaskTimeout):
    """A job ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: int | None) -> Iterator[None]:
    """Raise JobTimeout in this (main) thread once `seconds` have passed; None: no limit."""
    if not seconds:
        yield
        return

    def expire(_signum, _frame):
        raise JobTimeout(f"timed out after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def failure_reason(exc: BaseException, kind: JobKind) -> str:
    """Return the short reason recorded for a failed attempt: never a traceback."""
    if isinstance(exc, TaskTimeout):
        return f"Timed out after {kind.timeout} s."
    if isinstance(exc, DaybookError):
        return str(exc)[:MAX_REASON] or type(exc).__name__
    if isinstance(exc, OSError):
        return f"Could not read or write a file: {exc.strerror or type(exc).__name__}."
    if isinstance(exc, SQLAlchemyError):
        return "The database could not be used; the worker log has the details."
    return f"Failed unexpectedly ({type(exc).__name__}); the worker log has the details."


@contextlib.contextmanager
def _intent(writes: bool) -> Iterator[None]:
    # SQLite: transactions that will write take the write lock at BEGIN (see database.py);
    # those that only read must not, or they would hold every writer off while they read.
    token = write_intent.set(writes)
    try:
        yield
    finally:
        write_intent.reset(token)


def run_job(app: Flask, kind: JobKind, job_id: int, task: Task | None = None) -> None:
    """Run the job `job_id` of `kind` in an app context, recording each change of its state.

    A job that is gone (its user was deleted) or no longer queued (delivered twice) is
    skipped. A failure is recorded, then raised again so that Huey retries it while
    `task.retries` lasts.
    """
    retrying = task is not None and task.retries > 0
    with app.app_context():
        try:
            with _intent(True):
                claimed = records.claim(job_id)
        except Exception as exc:  # the database refused: Huey retries the claim
            _record_failure(kind, job_id, exc, retrying)
            raise
        if not claimed:
            log().info("job_skipped", job_id=job_id, kind=kind.name)
            return
        started = time.monotonic()
        try:
            with (
                _intent(kind.writes),
                time_limit(kind.timeout if app.extensions.get(IN_WORKER) else None),
            ):
                job = db.session.get_one(Job, job_id)
                log().info("job_started", job_id=job_id, kind=kind.name, attempt=job.attempts)
                result = kind.run(job)
                db.session.commit()  # end its transaction before the state is written
        except Exception as exc:
            _record_failure(kind, job_id, exc, retrying)
            raise
        with _intent(True):
            records.finish(job_id, result)
        log().info(
            "job_done",
            job_id=job_id,
            kind=kind.name,
            duration_s=round(time.monotonic() - started, 3),
        )


def _record_failure(kind: JobKind, job_id: int, exc: Exception, retrying: bool) -> None:
    db.session.rollback()
    reason = failure_reason(exc, kind)
    with _intent(True):
        records.fail(job_id, reason, retrying=retrying)
    log().warning("job_failed", job_id=job_id, kind=kind.name, reason=reason, retrying=retrying)


def connect(app: Flask, huey: Huey) -> None:
    """Hook the worker's processes: fresh database connections, interrupted jobs queued again."""

    @huey.on_startup(name="daybook_fresh_connections")
    def fresh_connections() -> None:
        # Each worker process is forked from the consumer: never share its connections.
        with app.app_context():
            db.engine.dispose(close=False)

    @huey.signal(signals.SIGNAL_INTERRUPTED)
    def requeue_interrupted(_signal: str, task: Task, *_args: Any) -> None:
        if task.name not in kinds(app) or not task.args:
            return
        with app.app_context(), _intent(True):
            records.requeue(task.args[0])
        huey.enqueue(task)
        log().info("job_requeued", job_id=task.args[0], kind=task.name)


class _Orphanable:
    """A consumer's child process (worker or scheduler) that stops when the consumer is gone.

    A consumer killed outright (SIGKILL) leaves its children running with nobody to stop them;
    each looks between jobs, and sets the stop flag they share.
    """

    stop_flag: Any

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.consumer_pid = os.getpid()  # made in the consumer, before the fork

    def loop(self, now=None):
        if os.getppid() != self.consumer_pid:
            self.stop_flag.set()
            return None
        return super().loop(now)  # type: ignore[misc]


class _Worker(_Orphanable, Worker):
    pass


class _Scheduler(_Orphanable, Scheduler):
    pass


class _Consumer(Consumer):
    """A consumer that also stops, gracefully, when the process that started it is gone."""

    worker_class = _Worker
    scheduler_class = _Scheduler
    parent_pid: int | None = None

    def loop(self, health_check_ts=None):
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            self.parent_pid = None
            os.kill(os.getpid(), signal.SIGTERM)  # handled below like any SIGTERM
        return super().loop(health_check_ts)


def run_worker(
    app: Flask,
    *,
    workers: int = DEFAULT_WORKERS,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    parent_pid: int | None = None,
) -> None:
    """Run jobs, queued and scheduled, until SIGTERM (graceful) or SIGINT (at once).

    Raises: WorkerError when the queue runs jobs immediately (tests) and cannot be consumed.
    """
    huey = get_huey(app)
    if huey.immediate:
        raise WorkerError("This app runs jobs immediately (JOBS_IMMEDIATE); there is no queue.")
    app.extensions[IN_WORKER] = True
    with app.app_context():
        try:
            lost = records.sweep_lost({k: r.kind.timeout for k, r in kinds(app).items()})
        except SQLAlchemyError as exc:  # an empty database, say: `daybook db upgrade` first
            db.session.rollback()
            log().warning("job_sweep_failed", error=type(exc).__name__)
            lost = 0
        if lost:
            log().warning("jobs_lost", count=lost)
        db.session.remove()
        db.engine.dispose()
    consumer = _Consumer(
        huey,
        workers=workers,
        worker_type="process",
        periodic=True,
        graceful_signal="TERM",
        shutdown_timeout=shutdown_timeout,
        # An idle worker looks at a SQLite queue at least every 2 s (Redis wakes it at once).
        max_delay=2.0,
    )
    consumer.parent_pid = parent_pid
    log().info("worker_started", workers=workers, queue=type(huey).__name__)
    consumer.run()
    log().info("worker_stopped")
