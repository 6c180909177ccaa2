"""What each job does, and when the scheduled ones run.

A job function takes its `Job` row, reloaded by the runner inside an app context, and returns
the result to record (a small dict) or raises. Each is idempotent: running it again after a
failure or a double delivery leaves things as one run would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import crontab
from huey.api import Huey

from daybook.jobs import exports, records
from daybook.jobs.queue import JobKind, enqueue_once
from daybook.models import Job, utcnow

# Finished jobs are listed in Settings for this long, then deleted by the clean-up job.
JOB_KEEP = timedelta(days=30)
SCHEDULED_BACKUPS = "scheduled"


def purge_trash(job: Job) -> dict[str, Any]:
    """Delete the entries that have been in the trash longer than the trash period."""
    from daybook.services import entries

    days = job.params.get("days") or current_app.config["DAYBOOK"].trash_days
    return {"purged": entries.purge_expired_trash(int(days))}


def reindex_search(job: Job) -> dict[str, Any]:  # noqa: ARG001
    """Rebuild the search index from the entries."""
    from daybook.services import search

    return {"indexed": search.rebuild_index()}


def scheduled_backup_dir() -> Path:
    """Return where scheduled backups go: their own folder, so rotation spares manual ones."""
    return current_app.config["DAYBOOK"].backup_dir / SCHEDULED_BACKUPS


def take_backup(job: Job) -> dict[str, Any]:  # noqa: ARG001
    """Back up the database and keep the newest DAYBOOK_BACKUP_KEEP scheduled backups.

    Encrypted, as `daybook backup` is, when DAYBOOK_BACKUP_PASSPHRASE is set.
    """
    from daybook.services import backup

    settings = current_app.config["DAYBOOK"]
    made = backup.create_backup(
        scheduled_backup_dir(),
        keep=settings.backup_keep,
        passphrase=settings.backup_passphrase or None,
    )
    return {"file": made.path.name, "removed": len(made.removed)}


def clean_up(job: Job) -> dict[str, Any]:  # noqa: ARG001
    """Delete expired exports and old job records; fail jobs whose worker died under them."""
    now = utcnow()
    return {
        "exports_deleted": exports.delete_expired(now),
        "jobs_deleted": records.delete_finished_before(now - JOB_KEEP),
        "jobs_lost": records.sweep_lost(time_limits(), now),
    }


KINDS = (
    JobKind("export", "Export", exports.write_export, timeout=30 * 60, retries=2, writes=False),
    JobKind("trash_purge", "Empty expired trash", purge_trash, timeout=10 * 60),
    JobKind("search_reindex", "Rebuild search index", reindex_search, timeout=60 * 60, retries=2),
    JobKind("backup", "Scheduled backup", take_backup, timeout=60 * 60, retries=2),
    JobKind("cleanup", "Clean up old exports and jobs", clean_up, timeout=10 * 60),
)


def time_limits() -> dict[str, int]:
    """Return each known kind's time limit in seconds."""
    from daybook.jobs.queue import kinds

    return {name: registered.kind.timeout for name, registered in kinds().items()}


# When each scheduled job runs (UTC), and the period a run stands for: the schedulers of
# several workers may all fire, and the job is recorded once per period.
SCHEDULES: dict[str, tuple[Any, str]] = {
    "trash_purge": (crontab(minute="15", hour="3"), "%Y-%m-%d"),
    "cleanup": (crontab(minute="45", hour="3"), "%Y-%m-%d"),
}
BACKUP_SCHEDULES: dict[str, tuple[Any, str]] = {
    "hourly": (crontab(minute="5"), "%Y-%m-%dT%H"),
    "daily": (crontab(minute="30", hour="2"), "%Y-%m-%d"),
    "weekly": (crontab(minute="30", hour="2", day_of_week="0"), "%G-W%V"),
}


def schedules(app: Flask) -> dict[str, tuple[Any, str]]:
    """Return the scheduled kinds for this app's settings, with their crontab and period."""
    chosen = dict(SCHEDULES)
    backup_schedule = app.config["DAYBOOK"].backup_schedule
    if backup_schedule:
        chosen["backup"] = BACKUP_SCHEDULES[backup_schedule]
    return chosen


def enqueue_scheduled(app: Flask, kind: str, period: str) -> int | None:
    """Queue a scheduled job once for the current period; return its id (None: already done)."""
    from daybook.database import write_intent

    with app.app_context():
        token = write_intent.set(True)
        try:
            return enqueue_once(kind, f"{kind}@{utcnow():{period}}")
        finally:
            write_intent.reset(token)


def register_schedules(app: Flask, huey: Huey) -> None:
    """Register a periodic Huey task for each scheduled kind; a worker's scheduler fires them."""
    for kind, (when, period) in schedules(app).items():

        def fire(kind: str = kind, period: str = period) -> None:
            enqueue_scheduled(app, kind, period)

        huey.periodic_task(when, name=f"scheduled_{kind}")(fire)
