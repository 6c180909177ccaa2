"""What each job does: trash purge, re-index, scheduled backups, exports, clean-up."""

from __future__ import annotations

import json
import os
import time
import zipfile
from datetime import timedelta

import sqlalchemy as sa

from daybook.extensions import db
from daybook.jobs import enqueue, exports, records
from daybook.models import Entry, Job, utcnow
from daybook.services import backup, search
from tests.databases import SEARCH_TABLE
from tests.factories import make_entry
from tests.jobs.conftest import job_row


def _trashed(user, title: str, days_ago: float) -> int:
    entry = make_entry(user, title=title)
    entry.deleted_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return entry.id


def _titles() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(Entry.title)))


def test_the_trash_purge_job_deletes_only_entries_past_the_trash_period(app, user):
    make_entry(user, title="Live")
    _trashed(user, "Trashed long ago", days_ago=31)
    _trashed(user, "Trashed last week", days_ago=7)

    job = job_row(enqueue("trash_purge"))

    assert (job.state, job.result) == ("done", {"purged": 1})
    assert _titles() == {"Live", "Trashed last week"}


def test_the_trash_purge_job_takes_a_shorter_period(app, user):
    _trashed(user, "Trashed last week", days_ago=7)
    job = job_row(enqueue("trash_purge", params={"days": 5}))
    assert job.result == {"purged": 1}
    assert _titles() == set()


def test_the_reindex_job_rebuilds_the_search_index(app, user):
    make_entry(user, title="Walrus sighting")
    db.session.execute(sa.text(f"DELETE FROM {SEARCH_TABLE}"))
    db.session.commit()
    assert search.index_mismatches()

    job = job_row(enqueue("search_reindex"))

    assert (job.state, job.result) == ("done", {"indexed": 1})
    assert search.index_mismatches() == []
    assert [hit.entry.title for hit in search.search_entries(user, "walrus").hits] == [
        "Walrus sighting"
    ]


def test_scheduled_backups_keep_the_newest_few_and_spare_manual_ones(make_app, data_dir):
    app = make_app(BACKUP_KEEP=2, BACKUP_SCHEDULE="daily")
    with app.app_context():
        manual = backup.create_backup().path

        for _ in range(3):
            job = job_row(enqueue("backup"))
            assert job.state == "done", job.error

        scheduled = backup.list_backups(data_dir / "backups" / "scheduled")
        assert len(scheduled) == 2
        assert job.result == {"file": scheduled[-1].name, "removed": 1}
        assert manual.is_file()


def test_scheduled_backups_are_encrypted_when_a_passphrase_is_set(make_app, data_dir):
    app = make_app(BACKUP_SCHEDULE="weekly", BACKUP_PASSPHRASE="a long enough passphrase")
    with app.app_context():
        job = job_row(enqueue("backup"))
    assert job.state == "done", job.error
    assert job.result["file"].endswith(".tar.enc")
    assert (data_dir / "backups" / "scheduled" / job.result["file"]).is_file()


def _export(user, fmt: str) -> Job:
    return job_row(exports.request_export(user, fmt))


def test_a_json_export_writes_the_users_journal_under_their_folder(app, user, other_user, data_dir):
    make_entry(user, title="Mine", tags="work")
    make_entry(other_user, title="Not mine")

    job = _export(user, "json")

    path = exports.download_path(user, job.id)
    assert path.parent == data_dir / "exports" / str(user.id)
    assert job.result == {"file": path.name, "entries": 1, "bytes": path.stat().st_size}
    data = json.loads(path.read_text())
    assert [e["title"] for e in data["entries"]] == ["Mine"]
    assert path.stat().st_mode & 0o077 == 0


def test_a_markdown_export_is_a_zip_of_entries(app, user):
    make_entry(user, title="First day")
    job = _export(user, "markdown")
    with zipfile.ZipFile(exports.download_path(user, job.id)) as archive:
        names = archive.namelist()
    assert len(names) == 1 and names[0].endswith("-first-day.md")


def test_asking_again_while_an_export_waits_gives_the_same_job(make_app, user):
    app = make_app(JOBS_IMMEDIATE=False)
    with app.app_context():
        first = exports.request_export(user, "json")
        assert exports.request_export(user, "json") == first
        assert exports.request_export(user, "markdown") != first


def test_clean_up_deletes_old_exports_and_old_finished_jobs(app, user):
    old_export = _export(user, "json")
    fresh_export = _export(user, "json")
    old_file = exports.download_path(user, old_export.id)
    stale = time.time() - timedelta(days=4).total_seconds()
    os.utime(old_file, (stale, stale))
    ancient = records.create("trash_purge")
    waiting = records.create("trash_purge")
    for job_id in (ancient, waiting):
        db.session.get(Job, job_id).created_at = utcnow() - timedelta(days=40)
    db.session.get(Job, ancient).state = "done"
    db.session.commit()

    job = job_row(enqueue("cleanup"))

    assert job.result == {"exports_deleted": 1, "jobs_deleted": 1, "jobs_lost": 0}
    assert not old_file.exists()
    assert exports.download_path(user, fresh_export.id).is_file()
    assert db.session.get(Job, ancient) is None
    assert job_row(waiting).state == "queued"  # never delete what has not run
