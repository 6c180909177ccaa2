"""Exports to download: asked for in Settings, written by a worker under `<data dir>/exports`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.jobs import records
from daybook.models import Job, User

# The formats services/export.py writes: file suffix and the name people read.
FORMATS = {"json": (".json", "JSON"), "markdown": (".zip", "Markdown (zip)")}
KEEP = timedelta(days=3)
MIMETYPES = {".json": "application/json", ".zip": "application/zip"}


def exports_dir() -> Path:
    """Return the folder that holds every user's exports."""
    return current_app.config["DAYBOOK"].data_dir / "exports"


def _user_dir(user_id: int) -> Path:
    return exports_dir() / str(user_id)


def request_export(user: User, fmt: str) -> int:
    """Queue an export of the user's journal in `fmt`; return the job's id.

    Asking again while the same export is queued or running returns that job.

    Raises: ValidationError for an unknown format; QueueUnavailable.
    """
    from daybook.jobs.queue import enqueue

    if fmt not in FORMATS:
        raise ValidationError({"format": f"must be one of {', '.join(FORMATS)}."})
    params = {"format": fmt}
    active = records.find_active(user, "export", params)
    if active is not None:
        return active.id
    return enqueue("export", user_id=user.id, params=params)


def _file_name(job: Job, username: str) -> str:
    suffix = FORMATS[job.params["format"]][0]
    return f"daybook-{username}-{job.created_at:%Y%m%d-%H%M%S}-{job.id}{suffix}"


def write_export(job: Job) -> dict[str, Any]:
    """Write the job's user's journal to their exports folder; a rerun rewrites the same file.

    Raises: ValidationError when the user or the format is gone.
    """
    from daybook.services import export

    user = db.session.get(User, job.user_id) if job.user_id is not None else None
    fmt = job.params.get("format")
    if user is None or fmt not in FORMATS:
        raise ValidationError({"job": "names no user or no known format."})
    exports_dir().mkdir(exist_ok=True, mode=0o700)
    folder = _user_dir(user.id)
    folder.mkdir(exist_ok=True, mode=0o700)
    name = _file_name(job, user.username)
    binary = fmt != "json"
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as out:
            count = export.export_markdown(user, out) if binary else export.export_json(user, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, folder / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return {"file": name, "entries": count, "bytes": (folder / name).stat().st_size}


def download_path(user: User, job_id: int) -> Path:
    """Return the file of the user's finished export job.

    Raises: NotFound when the job is not the user's finished export, or its file is gone.
    """
    job = records.get_for(user, job_id, kind="export")
    path = file_of(job)
    if path is None:
        raise NotFound("No such export.")
    return path


def file_of(job: Job) -> Path | None:
    """Return the file a finished export wrote, or None when there is none (any longer)."""
    if job.kind != "export" or job.state != "done" or job.user_id is None:
        return None
    name = (job.result or {}).get("file")
    if not isinstance(name, str) or not name or Path(name).name != name:
        return None
    path = _user_dir(job.user_id) / name
    return path if path.is_file() else None


def delete_expired(now: datetime) -> int:
    """Delete export files (and half-written ones) older than KEEP; return how many."""
    root = exports_dir()
    if not root.is_dir():
        return 0
    cutoff = (now - KEEP).timestamp()
    count = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                count += 1
        with contextlib.suppress(OSError):  # not empty: keep it
            folder.rmdir()
    return count
