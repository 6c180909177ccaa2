"""Settings → Jobs and exports: the list, the export form, downloads, and who sees what."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.jobs import enqueue, exports, records
from daybook.models import Job
from tests.factories import make_entry


def _export(client, fmt: str = "json"):
    return client.form("/settings/export", {"format": fmt})


def _only_job() -> Job:
    db.session.expire_all()
    (job,) = db.session.scalars(sa.select(Job)).all()
    return job


def _download(client, job_id: int):
    # Read the whole answer, so that the file it streams from is closed.
    return client.get(f"/settings/exports/{job_id}", buffered=True)


def test_the_settings_page_links_to_jobs(auth_client):
    html = auth_client.get("/settings").get_data(as_text=True)
    assert 'href="/settings/jobs"' in html


@pytest.mark.parametrize("path", ["/settings/jobs", "/settings/exports/1"])
def test_the_pages_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_an_export_asked_for_in_settings_can_be_downloaded(auth_client, user):
    make_entry(user, title="Day one", body="It begins.", tags="start")

    response = _export(auth_client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/jobs"
    job = _only_job()
    assert (job.kind, job.user_id, job.state, job.params) == (
        "export",
        user.id,
        "done",
        {"format": "json"},
    )
    page = auth_client.get("/settings/jobs").get_data(as_text=True)
    assert f'href="/settings/exports/{job.id}"' in page
    assert "Export queued" in page

    download = _download(auth_client, job.id)
    assert download.status_code == 200
    assert download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == f"attachment; filename={job.result['file']}"
    assert "no-store" in download.headers["Cache-Control"]
    entries = json.loads(download.get_data())["entries"]
    assert [(e["title"], e["body"], e["tags"]) for e in entries] == [
        ("Day one", "It begins.", ["start"])
    ]


def test_a_markdown_export_downloads_as_a_zip(auth_client, user):
    make_entry(user, title="Day one")
    _export(auth_client, "markdown")

    download = _download(auth_client, _only_job().id)

    assert download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
        assert [name.split("-", 3)[-1] for name in archive.namelist()] == ["day-one.md"]


def test_another_users_export_is_not_found_nor_listed(auth_client, other_client, user):
    make_entry(user, title="Private thoughts")
    _export(auth_client)
    job = _only_job()

    assert _download(other_client, job.id).status_code == 404
    page = other_client.get("/settings/jobs").get_data(as_text=True)
    assert f"job-{job.id}" not in page
    assert "Private thoughts" not in page


@pytest.mark.parametrize("job_id", ["abc", "0", "-1", "1.0", "99999999999999999999", "²"])
def test_a_download_of_no_such_job_is_not_found(auth_client, job_id):
    assert auth_client.get(f"/settings/exports/{job_id}").status_code == 404


def test_only_finished_exports_with_a_file_download(auth_client, user):
    purge = enqueue("trash_purge")  # a job, but no export and not alice's
    _export(auth_client)
    done = db.session.scalar(sa.select(Job.id).where(Job.kind == "export"))
    exports.download_path(user, done).unlink()  # cleaned up
    queued = records.create("export", user_id=user.id, params={"format": "json"})

    for job_id in (purge, queued, done):
        assert _download(auth_client, job_id).status_code == 404
    assert "The file has expired." in auth_client.get("/settings/jobs").get_data(as_text=True)


@pytest.mark.parametrize("fmt", ["pdf", "", "JSON"])
def test_an_unknown_format_is_refused_and_nothing_is_queued(auth_client, fmt):
    response = _export(auth_client, fmt)
    assert response.status_code == 400
    assert "must be one of json, markdown." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_the_export_form_needs_its_csrf_token(auth_client):
    response = auth_client.post("/settings/export", data={"format": "json"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_a_failed_job_shows_its_reason_and_no_traceback(auth_client, user):
    job_id = records.create("export", user_id=user.id, params={"format": "json"})
    records.fail(job_id, "Could not read or write a file: No space left on device.", retrying=False)

    page = auth_client.get("/settings/jobs").get_data(as_text=True)

    row = re.search(rf'<tr id="job-{job_id}" data-state="failed">.*?</tr>', page, re.S)
    assert row, page
    assert "No space left on device." in row.group()
    assert "Traceback" not in page


def test_admins_see_system_jobs_and_others_do_not(auth_client, other_client, user):
    job_id = enqueue("trash_purge")

    admin_page = auth_client.get("/settings/jobs").get_data(as_text=True)
    user_page = other_client.get("/settings/jobs").get_data(as_text=True)

    assert "System jobs" in admin_page and f'id="job-{job_id}"' in admin_page
    assert "Empty expired trash" in admin_page
    assert "System jobs" not in user_page and f'id="job-{job_id}"' not in user_page
