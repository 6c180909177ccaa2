"""`daybook trash purge --queue`, `daybook search reindex --queue` and `daybook worker`."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, Job, utcnow
from tests.factories import make_entry


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _old_trash(user) -> None:
    entry = make_entry(user, title="Old trash")
    entry.deleted_at = utcnow() - timedelta(days=10)
    db.session.commit()


def _jobs() -> list[tuple]:
    db.session.expire_all()
    return [
        (job.id, job.kind, job.state, job.params, job.result)
        for job in db.session.scalars(sa.select(Job).order_by(Job.id))
    ]


def test_trash_purge_still_runs_at_once_by_default(runner, user):
    _old_trash(user)
    result = runner.invoke(args=["trash", "purge", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert result.output == "Purged 1 entry from the trash.\n"
    assert _jobs() == []


def test_trash_purge_queue_leaves_it_to_a_job(runner, user):
    _old_trash(user)
    result = runner.invoke(args=["trash", "purge", "--queue", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("Queued job 1; `daybook worker` runs it.\n")
    # Tests run jobs at once; a real worker would have done the same.
    assert _jobs() == [(1, "trash_purge", "done", {"days": 5}, {"purged": 1})]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0


def test_search_reindex_queue_leaves_it_to_a_job(runner, user):
    make_entry(user, title="Indexed")
    result = runner.invoke(args=["search", "reindex", "--queue"])
    assert result.exit_code == 0, result.output
    assert _jobs() == [(1, "search_reindex", "done", {}, {"indexed": 1})]


def test_the_worker_refuses_an_app_that_runs_jobs_at_once(runner):
    result = runner.invoke(args=["worker"])
    assert result.exit_code == 1
    assert "runs jobs immediately" in result.output


def test_the_worker_refuses_a_bad_number_of_workers(runner):
    result = runner.invoke(args=["worker", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
