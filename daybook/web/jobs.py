"""Settings → Jobs: the user's background jobs, asking for an export, downloading it."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from daybook.errors import NotFound, ValidationError
from daybook.jobs import exports, records
from daybook.jobs.queue import QueueUnavailable, label
from daybook.web import bp
from daybook.web.flashes import flash


def _page(errors=None, form=None, status=200):
    jobs = records.list_for(current_user)
    system_jobs = records.list_for(None) if current_user.is_admin else []
    downloads = {job.id for job in jobs if exports.file_of(job) is not None}
    return render_template(
        "settings/jobs.html",
        jobs=jobs,
        system_jobs=system_jobs,
        downloads=downloads,
        formats={name: title for name, (_suffix, title) in exports.FORMATS.items()},
        label=label,
        errors=errors or {},
        form=form or {"format": "json"},
    ), status


@bp.get("/settings/jobs")
@login_required
def settings_jobs():
    """List the user's jobs, newest first, with the export form (and system jobs for admins)."""
    return _page()


@bp.post("/settings/export")
@login_required
def settings_export():
    """Queue an export of the user's journal in the chosen format."""
    form = {"format": request.form.get("format", "")}
    try:
        exports.request_export(current_user, form["format"])
    except ValidationError as exc:
        return _page(exc.fields, form, status=400)
    except QueueUnavailable as exc:
        return _page({"format": str(exc)}, form, status=503)
    flash("Export queued. It appears below when it is ready to download.", "success")
    return redirect(url_for("web.settings_jobs"))


@bp.get("/settings/exports/<job_id>")
@login_required
def settings_export_download(job_id: str):
    """Download the file of one of the user's finished exports."""
    if not job_id.isascii() or not job_id.isdigit():
        abort(404)
    try:
        path = exports.download_path(current_user, int(job_id))
    except NotFound:
        abort(404)
    response = send_file(path, as_attachment=True, download_name=path.name, mimetype=_type(path))
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _type(path) -> str:
    return exports.MIMETYPES.get(path.suffix, "application/octet-stream")
