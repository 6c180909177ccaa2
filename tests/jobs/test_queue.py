"""The queue an app gets: SQLite file or Redis, immediate only in tests, and its schedules."""

from __future__ import annotations

import socket
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa
from huey import RedisHuey, SqliteHuey

from daybook import redis_store
from daybook.extensions import db
from daybook.jobs.queue import QueueUnavailable, enqueue
from daybook.jobs.tasks import enqueue_scheduled
from daybook.models import Job


def _due(app, moment: datetime) -> set[str]:
    """Names of the scheduled jobs a worker's scheduler fires at `moment` (UTC)."""
    return {task.name for task in app.extensions["huey"].read_periodic(moment)}


def test_embedded_jobs_queue_in_a_sqlite_file_in_the_data_dir(make_app, data_dir):
    app = make_app(JOBS_IMMEDIATE=False)
    huey = app.extensions["huey"]
    assert isinstance(huey, SqliteHuey) and not huey.immediate
    assert huey.storage.filename == str(data_dir / "jobs.sqlite3")
    assert (data_dir / "jobs.sqlite3").is_file()


def test_with_a_redis_url_jobs_queue_in_redis(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:6379/7", JOBS_IMMEDIATE=False)
    huey = app.extensions["huey"]
    assert isinstance(huey, RedisHuey) and not huey.immediate
    assert huey.storage.pool.connection_kwargs["db"] == 7


def test_tests_run_jobs_at_once_and_servers_never_do(make_app, data_dir):
    assert make_app().extensions["huey"].immediate  # TESTING
    served = make_app(TESTING=False).extensions["huey"]
    assert not served.immediate


def test_trash_purge_and_clean_up_are_scheduled_daily(make_app):
    app = make_app()
    assert _due(app, datetime(2026, 11, 23, 3, 15)) == {"scheduled_trash_purge"}
    assert _due(app, datetime(2026, 11, 23, 3, 45)) == {"scheduled_cleanup"}
    assert _due(app, datetime(2026, 11, 23, 2, 30)) == set()  # no backups unless asked for


@pytest.mark.parametrize(
    ("schedule", "due", "not_due"),
    [
        ("hourly", datetime(2026, 11, 23, 14, 5), datetime(2026, 11, 23, 14, 6)),
        ("daily", datetime(2026, 11, 23, 2, 30), datetime(2026, 11, 23, 14, 30)),
        # 22 November 2026 is a Sunday.
        ("weekly", datetime(2026, 11, 22, 2, 30), datetime(2026, 11, 23, 2, 30)),
    ],
)
def test_backups_follow_the_backup_schedule(make_app, schedule, due, not_due):
    app = make_app(BACKUP_SCHEDULE=schedule)
    assert "scheduled_backup" in _due(app, due)
    assert "scheduled_backup" not in _due(app, not_due)


def test_a_scheduled_job_is_recorded_once_per_period_however_many_schedulers_fire(app):
    first = enqueue_scheduled(app, "trash_purge", "%Y-%m-%d")
    again = enqueue_scheduled(app, "trash_purge", "%Y-%m-%d")  # a second worker's scheduler

    assert first is not None and again is None
    jobs = db.session.scalars(sa.select(Job).where(Job.kind == "trash_purge")).all()
    assert [(job.id, job.state, job.user_id) for job in jobs] == [(first, "done", None)]
    assert jobs[0].dedupe_key.startswith("trash_purge@")


def test_firing_a_scheduled_task_queues_and_runs_its_job(app):
    huey = app.extensions["huey"]
    (task,) = huey.read_periodic(datetime(2026, 11, 23, 3, 45))
    huey.execute(task)
    job = db.session.scalar(sa.select(Job))
    assert (job.kind, job.state) == ("cleanup", "done")


def test_a_redis_that_never_answers_fails_the_enqueue_instead_of_hanging(make_app):
    # A server that takes the connection and never replies: a Redis that hangs, or a
    # firewall that swallows packets. The page that queues a job must hear "unreachable".
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        app = make_app(REDIS_URL=url, JOBS_IMMEDIATE=False)
        pool = app.extensions["huey"].storage.pool
        assert pool.connection_kwargs["socket_timeout"] == redis_store.COMMAND_TIMEOUT
        outcome: list[BaseException] = []

        def send() -> None:
            with app.app_context():
                try:
                    enqueue("trash_purge")
                except QueueUnavailable as exc:
                    outcome.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        # Ten times the command timeout: without it the enqueue waits for ever.
        sender.join(10 * redis_store.COMMAND_TIMEOUT)
        assert not sender.is_alive(), "the enqueue is still waiting for Redis"
        assert len(outcome) == 1
        with app.app_context():
            job = db.session.scalar(sa.select(Job))
            assert (job.kind, job.state) == ("trash_purge", "failed")
