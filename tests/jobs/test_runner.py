"""Running a job: its states, retries with backoff, recorded reasons, and running it only once."""

from __future__ import annotations

import errno
from datetime import timedelta

import pytest
from huey.exceptions import TaskTimeout

from daybook.errors import DaybookError
from daybook.extensions import db
from daybook.jobs import enqueue, records
from daybook.jobs.queue import JobKind, kinds, register_kind
from daybook.models import Job, utcnow
from tests.factories import make_user
from tests.jobs.conftest import job_row, run_retries, scheduled_delays


@pytest.fixture
def huey(app):
    return app.extensions["huey"]


def add_kind(app, run, **options) -> str:
    """Register a job kind of the test's own on the app; return its name."""
    name = options.pop("name", run.__name__)
    register_kind(app, JobKind(name, name.capitalize(), run, **options))
    return name


def test_a_job_is_running_while_it_runs_then_done_with_its_result(app):
    seen = {}

    def look(job):
        seen.update(state=job.state, attempts=job.attempts, started=job.started_at is not None)
        return {"answer": 42}

    job = job_row(enqueue(add_kind(app, look)))

    assert seen == {"state": "running", "attempts": 1, "started": True}
    assert (job.state, job.result, job.error, job.attempts) == ("done", {"answer": 42}, None, 1)
    assert job.created_at <= job.started_at <= job.finished_at


def test_a_queued_job_waits_in_the_queue_until_a_worker_takes_it(make_app):
    app = make_app(JOBS_IMMEDIATE=False)
    with app.app_context():
        huey = app.extensions["huey"]
        job_id = enqueue(add_kind(app, lambda job: {"ran": True}, name="later"))

        job = job_row(job_id)
        assert (job.state, job.attempts, job.started_at) == ("queued", 0, None)
        assert huey.pending_count() == 1

        huey.execute(huey.dequeue())  # what a worker does
        assert (job_row(job_id).state, job_row(job_id).result) == ("done", {"ran": True})


def test_a_failing_job_is_retried_with_growing_delays_then_succeeds(app, huey):
    attempts = []

    def flaky(job):
        attempts.append(job.attempts)
        if len(attempts) < 3:
            raise OSError(errno.EIO, "Input/output error")
        return {"ok": True}

    job_id = enqueue(add_kind(app, flaky, retries=3, retry_delay=30))

    job = job_row(job_id)
    assert (job.state, job.error) == (
        "queued",
        "Could not read or write a file: Input/output error.",
    )
    assert scheduled_delays(huey) == [pytest.approx(30, abs=5)]
    assert run_retries(huey) == 1
    assert scheduled_delays(huey) == [pytest.approx(60, abs=5)]  # twice as long
    assert run_retries(huey) == 1

    job = job_row(job_id)
    assert attempts == [1, 2, 3]
    assert (job.state, job.attempts, job.error, job.result) == ("done", 3, None, {"ok": True})
    assert scheduled_delays(huey) == []


def test_a_job_failing_every_attempt_is_failed_with_a_short_reason(app, huey):
    def broken(job):
        raise RuntimeError("SELECT secret FROM internals")

    job_id = enqueue(add_kind(app, broken, retries=1, retry_delay=1))
    run_retries(huey)

    job = job_row(job_id)
    assert (job.state, job.attempts) == ("failed", 2)
    assert job.error == "Failed unexpectedly (RuntimeError); the worker log has the details."
    assert job.finished_at is not None
    assert scheduled_delays(huey) == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TaskTimeout("timeout 5s"), "Timed out after 5 s."),
        (DaybookError("The backup disk is full."), "The backup disk is full."),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ],
)
def test_the_reason_says_what_went_wrong_without_a_traceback(app, error, reason):
    def fails(job):
        raise error

    job = job_row(enqueue(add_kind(app, fails, retries=0, timeout=5)))

    assert job.state == "failed"
    assert reason in job.error
    assert "Traceback" not in job.error


def test_a_job_delivered_twice_runs_once(app):
    runs = []
    kind = add_kind(app, lambda job: runs.append(job.id), name="once")
    job_id = enqueue(kind)

    kinds(app)[kind].task(job_id)  # the same message again

    assert runs == [job_id]
    assert job_row(job_id).attempts == 1


def test_the_jobs_of_a_deleted_user_go_with_them_and_are_skipped(make_app):
    from daybook.services import users

    app = make_app(JOBS_IMMEDIATE=False)
    with app.app_context():
        huey = app.extensions["huey"]
        owner = make_user("carol")
        job_id = enqueue("export", user_id=owner.id, params={"format": "json"})
        users.delete_user(owner)

        assert db.session.get(Job, job_id) is None
        huey.execute(huey.dequeue())  # nothing to do, and no error
        assert db.session.get(Job, job_id) is None


def test_a_job_interrupted_by_a_stopping_worker_is_queued_again(make_app):
    app = make_app(JOBS_IMMEDIATE=False)
    with app.app_context():
        huey = app.extensions["huey"]
        calls = []

        def stopped_once(job):
            calls.append(job.attempts)
            if len(calls) == 1:
                raise KeyboardInterrupt  # what the worker raises in a job it must stop
            return {}

        job_id = enqueue(add_kind(app, stopped_once))
        huey.execute(huey.dequeue())

        assert job_row(job_id).state == "queued"
        assert huey.pending_count() == 1
        huey.execute(huey.dequeue())
        assert job_row(job_id).state == "done"
        assert calls == [1, 2]


def test_jobs_left_running_by_a_dead_worker_are_failed_after_their_time_limit(app):
    old, recent = records.create("trash_purge"), records.create("trash_purge")
    for job_id, started in ((old, timedelta(hours=2)), (recent, timedelta(minutes=1))):
        job = db.session.get(Job, job_id)
        job.state, job.started_at = "running", utcnow() - started
    db.session.commit()

    assert records.sweep_lost({"trash_purge": 600}) == 1

    assert (job_row(old).state, job_row(old).error) == ("failed", records.LOST_REASON)
    assert job_row(recent).state == "running"
