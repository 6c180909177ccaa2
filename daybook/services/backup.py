"""Backups of the whole journal (database and data files) in one archive: make and rotate them.

Restoring is in backup_restore, the archive format in backup_archive, each database's side in
backup_sqlite and backup_postgres, and passphrase encryption in backup_crypto.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from flask import current_app
from sqlalchemy.engine import make_url

from daybook import __version__
from daybook.config import Settings
from daybook.extensions import db
from daybook.services import backup_postgres as postgres
from daybook.services import backup_sqlite as sqlite
from daybook.services.backup_archive import (
    KIND_NAMES,
    BackupError,
    data_files,
    make_manifest,
    write_archive,
)
from daybook.services.backup_crypto import EncryptingWriter, is_encrypted

__all__ = [
    "BACKUP_NAME",
    "DEFAULT_KEEP",
    "MIN_PASSPHRASE",
    "BackupError",
    "BackupResult",
    "create_backup",
    "is_encrypted",
    "list_backups",
    "rotate_backups",
]

# Archives (.tar, or .tar.enc when encrypted) and the plain SQLite copies of earlier versions.
BACKUP_NAME = re.compile(r"^daybook-(\d{8})-(\d{6})(?:-(\d+))?\.(?:tar|tar\.enc|sqlite3)$")
_SUFFIXES = (".tar", ".tar.enc", ".sqlite3")
DEFAULT_KEEP = 7
MIN_PASSPHRASE = 12


@dataclass
class BackupResult:
    path: Path
    removed: list[Path] = field(default_factory=list)


def database_kind(settings: Settings) -> str:
    """Return which kind of database the settings name: sqlite or postgresql.

    Raises: BackupError for any other.
    """
    backend = make_url(settings.database_url).get_backend_name()
    if backend not in KIND_NAMES:
        raise BackupError(f"Backup and restore of a {backend} database are not supported.")
    return backend


def database_shown(settings: Settings, kind: str) -> str:
    """Return how messages name the database: its file, or its URL without the password."""
    if kind == "sqlite":
        return str(sqlite.sqlite_path(settings.database_url))
    return postgres.server(settings.database_url).shown


def backup_time(now: datetime | None = None) -> str:
    """Return the UTC time in backup names: YYYYMMDD-HHMMSS."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def reserve_name(dest: Path, stamp: str, suffix: str, prefix: str = "daybook-") -> Path:
    """Create an empty file under a backup name nobody has used, even within the same second."""
    n = 0
    while True:
        base = f"{prefix}{stamp}" if n == 0 else f"{prefix}{stamp}-{n}"
        path = dest / f"{base}{suffix}"
        # One counter across the kinds of file, so that names sort in the order they were made.
        if any((dest / f"{base}{other}").exists() for other in _SUFFIXES if other != suffix):
            n += 1
            continue
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            n += 1
            continue
        return path


def list_backups(dest: Path) -> list[Path]:
    """Return the backups in `dest`, oldest first, by the time and counter in their names."""
    if not dest.is_dir():
        return []
    found = []
    for path in dest.iterdir():
        match = BACKUP_NAME.match(path.name)
        if match and path.is_file():
            found.append(((match.group(1), match.group(2), int(match.group(3) or 0)), path))
    return [path for _key, path in sorted(found)]


def rotate_backups(dest: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `dest`; return the deleted paths."""
    backups = list_backups(dest)
    doomed = backups[: max(0, len(backups) - keep)]
    for path in doomed:
        sqlite.remove(path)
    return doomed


def create_backup(
    dest: Path | None = None,
    *,
    keep: int = DEFAULT_KEEP,
    now: datetime | None = None,
    passphrase: str | None = None,
) -> BackupResult:
    """Write the database and the data directory's files into one checked archive in `dest`.

    Safe while the server runs. Encrypted when a `passphrase` is given. Keeps the newest `keep`
    backups in `dest` and deletes older ones.

    Raises: BackupError.
    """
    if keep < 1:
        raise BackupError("--keep must be at least 1.")
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"Choose a passphrase of at least {MIN_PASSPHRASE} characters.")
    settings = current_app.config["DAYBOOK"]
    kind = database_kind(settings)
    if kind == "sqlite":
        database = sqlite.sqlite_path(settings.database_url)
        if not database.is_file():
            raise BackupError(f"There is no database at {database} to back up.")
    else:
        postgres.program("pg_dump")
    dest = (dest or settings.backup_dir).expanduser().resolve()
    suffix = ".tar.enc" if passphrase is not None else ".tar"
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = reserve_name(dest, backup_time(now), suffix)
    except OSError as exc:
        raise BackupError(f"Cannot write backups into {dest}: {exc.strerror or exc}.") from None
    write_backup(settings, kind, final, passphrase=passphrase, now=now)
    return BackupResult(final, rotate_backups(dest, keep))


def write_backup(
    settings: Settings, kind: str, final: Path, *, passphrase: str | None, now: datetime | None
) -> None:
    """Fill the reserved file `final` through a temporary file renamed once whole and flushed."""
    dest = final.parent
    partial = dest / f".{final.name}.partial"
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=dest))
    shown = database_shown(settings, kind)
    try:
        copy = work / "database"
        if kind == "sqlite":
            revision = sqlite.copy_database(sqlite.sqlite_path(settings.database_url), copy)
        else:
            revision = postgres.dump(db.engine, settings.database_url, copy)
        created = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        manifest = make_manifest(kind, revision, created, __version__)
        files = data_files(
            settings.data_dir,
            database=database_in_data_dir(settings, kind),
            excluded_dirs=(dest, settings.backup_dir),
        )
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            if passphrase is None:
                write_archive(out, manifest, copy, files)
            else:
                sealed = EncryptingWriter(out, passphrase)
                write_archive(sealed, manifest, copy, files)
                sealed.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        sqlite.fsync(dest)
    except BaseException as exc:
        # Also on Ctrl-C: never leave a half archive, or an empty file with a backup's name.
        sqlite.remove(partial)
        sqlite.remove(final)
        if isinstance(exc, sqlite3.Error | OSError):
            raise BackupError(f"The backup of {shown} failed: {exc}.") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def database_in_data_dir(settings: Settings, kind: str) -> PurePosixPath | None:
    """Return where the SQLite database is inside the data directory, if it is there."""
    if kind != "sqlite":
        return None
    database = sqlite.sqlite_path(settings.database_url)
    if not database.is_relative_to(settings.data_dir):
        return None
    return PurePosixPath(database.relative_to(settings.data_dir).as_posix())
