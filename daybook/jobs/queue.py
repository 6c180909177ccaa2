"""The job queue: one Huey per app, on a SQLite file (embedded) or Redis (scaled out).

Built by `init_app` from the app's settings, never at import, and kept in
`app.extensions["huey"]`. Every job kind is one Huey task whose message carries only the job's
id; the runner reloads the row inside an app context of the app the task was registered for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper

from daybook import redis_store
from daybook.errors import DaybookError
from daybook.jobs import records
from daybook.models import Job

QUEUE_NAME = "daybook"
JOBS_FILE = "jobs.sqlite3"
KINDS_KEY = "daybook.jobs"
# Each retry waits this many times longer than the one before: 30 s, 1 min, 2 min, …
RETRY_BACKOFF = 2.0


class QueueUnavailable(DaybookError):
    """The job could not be handed to the queue (Redis or the jobs file is unreachable)."""


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does, and how it is retried and time-limited.

    `run` takes the job's row, inside an app context, and returns its result (a small dict).
    `writes` says whether it writes to the database (SQLite then locks for writing at once).
    """

    name: str
    label: str
    run: Callable[[Job], dict[str, Any] | None]
    timeout: int = 600
    retries: int = 3
    retry_delay: float = 30.0
    writes: bool = True


@dataclass(frozen=True)
class Registered:
    """A job kind and the Huey task that runs it."""

    kind: JobKind
    task: TaskWrapper


def make_huey(app: Flask) -> Huey:
    """Build the app's Huey: Redis when DAYBOOK_REDIS_URL is set, else `<data dir>/jobs.sqlite3`.

    `JOBS_IMMEDIATE` (default: the app's TESTING flag) runs each job at once, in the caller;
    only tests do that. Results live in the `job` table, so Huey stores none.
    """
    settings = app.config["DAYBOOK"]
    options: dict[str, Any] = {
        "results": False,
        "utc": True,
        "immediate": bool(app.config.get("JOBS_IMMEDIATE", app.testing)),
    }
    if settings.redis_url:
        # The same short timeouts as sessions and rate limits: a page that queues a job while
        # Redis hangs is told the queue is unreachable, instead of waiting with it.
        return RedisHuey(
            QUEUE_NAME, connection_pool=redis_store.pool(settings.redis_url), **options
        )
    return SqliteHuey(
        QUEUE_NAME, filename=str(settings.data_dir / JOBS_FILE), timeout=10, **options
    )


def init_app(app: Flask) -> None:
    """Give the app its queue with every job kind, the schedules and the worker hooks."""
    from daybook.jobs import runner, tasks

    huey = make_huey(app)
    app.extensions["huey"] = huey
    app.extensions[KINDS_KEY] = {}
    for kind in tasks.KINDS:
        register_kind(app, kind)
    tasks.register_schedules(app, huey)
    runner.connect(app, huey)


def get_huey(app: Flask | None = None) -> Huey:
    """Return the app's Huey (the current app's by default)."""
    return (app or current_app).extensions["huey"]


def kinds(app: Flask | None = None) -> dict[str, Registered]:
    """Return the job kinds registered on the app, by name."""
    return (app or current_app).extensions[KINDS_KEY]


def register_kind(app: Flask, kind: JobKind) -> TaskWrapper:
    """Make `kind` a task of the app's Huey, run through the runner in an app context."""
    from daybook.jobs import runner

    def run(job_id: int, task=None):
        return runner.run_job(app, kind, job_id, task)

    # Huey names tasks `<module>.<name>`: every process that registers the kind agrees. The
    # time limit is the runner's (around the job's work), not Huey's (around the whole task).
    task = get_huey(app).task(
        retries=kind.retries,
        retry_delay=kind.retry_delay,
        retry_backoff=RETRY_BACKOFF,
        context=True,
        name=kind.name,
    )(run)
    kinds(app)[kind.name] = Registered(kind, task)
    return task


def enqueue(
    kind: str, *, user_id: int | None = None, params: Mapping[str, Any] | None = None
) -> int:
    """Record a queued job of `kind` and hand its id to the queue; return the job's id.

    The row is committed first, so that a worker (or immediate mode) always finds it.

    Raises: QueueUnavailable, with the job recorded as failed.
    """
    job_id = records.create(kind, user_id=user_id, params=params)
    _send(kind, job_id)
    return job_id


def enqueue_once(kind: str, dedupe_key: str) -> int | None:
    """Like `enqueue`, but only the first job with `dedupe_key` is recorded; None after that."""
    job_id = records.create_once(kind, dedupe_key)
    if job_id is not None:
        _send(kind, job_id)
    return job_id


def _send(kind: str, job_id: int) -> None:
    try:
        kinds()[kind].task(job_id)
    except Exception as exc:
        current_app.logger.exception("job %s could not be queued", job_id)
        records.fail(job_id, "Could not be queued: the job queue is unreachable.", retrying=False)
        raise QueueUnavailable("The job queue is unreachable; try again in a moment.") from exc


def label(kind: str) -> str:
    """Return the name a person reads for a kind of job."""
    registered = kinds().get(kind)
    return registered.kind.label if registered else kind.replace("_", " ").capitalize()
