"""The `job` rows: create, move through their states, list for their owner, tidy up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daybook.errors import NotFound
from daybook.extensions import db
from daybook.models import Job, User, utcnow
from daybook.models.base import MAX_ID

LISTED = 50
# A running job is given up for lost this long after its time limit has passed.
STALE_GRACE = timedelta(minutes=5)
LOST_REASON = "The worker stopped while running it."


def create(
    kind: str,
    *,
    user_id: int | None = None,
    params: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Insert a queued job and commit; return its id.

    Raises: IntegrityError when `dedupe_key` is taken, with the session rolled back.
    """
    job = Job(
        kind=kind,
        user_id=user_id,
        state="queued",
        attempts=0,
        params=dict(params or {}),
        dedupe_key=dedupe_key,
        created_at=utcnow(),
    )
    db.session.add(job)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise
    # Read the id before committing: afterwards it would take a new transaction to read it.
    job_id = job.id
    db.session.commit()
    return job_id


def create_once(kind: str, dedupe_key: str) -> int | None:
    """Insert a queued system job unless one with `dedupe_key` exists; return its id or None."""
    try:
        return create(kind, dedupe_key=dedupe_key)
    except IntegrityError:
        return None


def claim(job_id: int) -> bool:
    """Mark a queued job running and count the attempt; False when it is gone or not queued.

    One UPDATE with the state in its WHERE clause: a job delivered twice runs once.
    """
    claimed = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="running", attempts=Job.attempts + 1, started_at=utcnow(), finished_at=None)
    ).rowcount
    db.session.commit()
    return claimed == 1


def _set(job_id: int, **values: Any) -> None:
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(**values))
    db.session.commit()


def finish(job_id: int, result: dict[str, Any] | None) -> None:
    """Mark a job done with its result."""
    _set(job_id, state="done", result=result, error=None, finished_at=utcnow())


def fail(job_id: int, reason: str, *, retrying: bool) -> None:
    """Record why an attempt failed: back to queued when it will be retried, else failed."""
    if retrying:
        _set(job_id, state="queued", error=reason)
    else:
        _set(job_id, state="failed", error=reason, finished_at=utcnow())


def requeue(job_id: int) -> None:
    """Put a running job back in the queued state (its worker was stopped while running it)."""
    db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.state == "running").values(state="queued")
    )
    db.session.commit()


def sweep_lost(time_limits: Mapping[str, int], now: datetime | None = None) -> int:
    """Fail the running jobs that outlived their time limit: their worker died; return how many."""
    now = now or utcnow()
    count = 0
    for kind, limit in time_limits.items():
        cutoff = now - timedelta(seconds=limit) - STALE_GRACE
        count += db.session.execute(
            sa.update(Job)
            .where(Job.kind == kind, Job.state == "running", Job.started_at < cutoff)
            .values(state="failed", error=LOST_REASON, finished_at=now)
        ).rowcount
    db.session.commit()
    return count


def delete_finished_before(cutoff: datetime) -> int:
    """Delete done and failed jobs created before `cutoff`; return how many."""
    count = db.session.execute(
        sa.delete(Job).where(Job.state.in_(("done", "failed")), Job.created_at < cutoff)
    ).rowcount
    db.session.commit()
    return count


def list_for(user: User | None, limit: int = LISTED) -> list[Job]:
    """Return the user's newest jobs, or the system's (no user) when `user` is None."""
    owner = Job.user_id.is_(None) if user is None else Job.user_id == user.id
    return list(
        db.session.scalars(
            sa.select(Job).where(owner).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        )
    )


def get_for(user: User, job_id: int, kind: str | None = None) -> Job:
    """Return the user's job with this id (and kind).

    Raises: NotFound when there is none, or it is someone else's.
    """
    if not 0 < job_id <= MAX_ID:
        raise NotFound("No such job.")
    query = sa.select(Job).where(Job.id == job_id, Job.user_id == user.id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    job = db.session.scalar(query)
    if job is None:
        raise NotFound("No such job.")
    return job


def find_active(user: User, kind: str, params: Mapping[str, Any]) -> Job | None:
    """Return the user's queued or running job of this kind with these parameters, if any."""
    candidates = db.session.scalars(
        sa.select(Job).where(
            Job.user_id == user.id, Job.kind == kind, Job.state.in_(("queued", "running"))
        )
    )
    return next((job for job in candidates if job.params == dict(params)), None)
