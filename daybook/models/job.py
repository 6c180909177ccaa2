"""Background jobs: one row per job run by a worker, with its state for the user and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from daybook.models.base import Base, UTCDateTime, utcnow

JOB_STATES = ("queued", "running", "done", "failed")


class Job(Base):
    """A job: queued, then running, then done (with a result) or failed (with a reason).

    `user_id` is empty for system jobs (trash purge, re-index, backups, clean-up). A job that
    fails and will be retried goes back to `queued`, keeping the reason of its last attempt.
    """

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[str] = mapped_column(sa.String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Set on scheduled jobs (`backup@2026-11-23`): several workers' schedulers enqueue one.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state_known"),
        # The Settings listing: a user's jobs (or the system's, user_id NULL), newest first.
        sa.Index("ix_job_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_job_state", "state"),
    )
