"""The SQLite side of backups: a consistent copy of the live file, checks, and swapping files."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from daybook.services.backup_archive import BackupError

MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
REQUIRED_TABLES = ("alembic_version", "entry")
# Files SQLite keeps beside a database. A -wal or -journal left next to a new file would be
# replayed into it, so they move with the database they belong to; -shm is only an index.
SIDE_FILES = ("-wal", "-journal", "-shm")


def sqlite_path(database_url: str) -> Path:
    """Return the file of a SQLite database URL.

    Raises: BackupError for SQLite in memory.
    """
    url = make_url(database_url)
    if url.database in (None, "", ":memory:"):
        raise BackupError("An in-memory SQLite database has no file to back up or restore.")
    return Path(url.database).expanduser().resolve()


def _open_readonly(path: Path) -> sqlite3.Connection:
    # immutable: read exactly the bytes of this file, with no locks and no -wal/-shm beside it.
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)


def integrity_problem(path: Path) -> str | None:
    """Return why the SQLite file at `path` is unusable, or None when integrity_check passes."""
    try:
        conn = _open_readonly(path)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    if rows != ["ok"]:
        return "integrity_check found " + "; ".join(str(r) for r in rows[:3])
    return None


def fsync(path: Path) -> None:
    """Flush the file or directory at `path` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Delete the file at `path` if it is there."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def copy_database(database: Path, target: Path) -> str:
    """Copy the live database to `target` as one consistent, checked file; return its revision.

    VACUUM INTO reads the whole database in a single read transaction, so a busy writer can
    neither corrupt the copy nor make it start over (as a step-wise online backup would).

    Raises: BackupError, sqlite3.Error, OSError.
    """
    remove(target)
    source = sqlite3.connect(
        f"{database.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
    )
    try:
        source.execute("VACUUM INTO ?", (str(target),))
    finally:
        source.close()
    problem = integrity_problem(target)
    if problem:
        raise BackupError(f"The copy failed its integrity check ({problem}); nothing was kept.")
    os.chmod(target, 0o600)
    fsync(target)
    return check_restorable(target, str(database))


def check_restorable(path: Path, shown: str) -> str:
    """Check that `path` is a sound Daybook database file; return the schema revision it records.

    Raises: BackupError saying what is wrong with the file.
    """
    problem = integrity_problem(path)
    if problem:
        raise BackupError(f"{shown} is not a usable SQLite database: {problem}.")
    conn = _open_readonly(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise BackupError(
                f"{shown} is not a Daybook database: it has no {' or '.join(missing)} table."
            )
        revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.Error as exc:
        raise BackupError(f"{shown} cannot be read as a Daybook database: {exc}.") from None
    finally:
        conn.close()
    if len(revisions) != 1 or not isinstance(revisions[0], str) or not revisions[0]:
        raise BackupError(f"{shown} does not record one schema revision; it cannot be restored.")
    return revisions[0]


def has_database(path: Path) -> bool:
    """Tell whether a database (not an empty placeholder) is at `path`."""
    return path.is_file() and path.stat().st_size > 0


def stage(source: Path, database: Path, stamp: str) -> Path:
    """Copy (or move, from a staging directory) `source` beside `database`, private and flushed.

    Raises: OSError.
    """
    incoming = database.with_name(f".{database.name}.restoring-{stamp}")
    try:
        shutil.copyfile(source, incoming)
        os.chmod(incoming, 0o600)
        fsync(incoming)
    except BaseException:
        remove(incoming)
        raise
    return incoming


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists() or any(Path(f"{candidate}{s}").exists() for s in SIDE_FILES):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _set_aside(database: Path, stamp: str) -> Path:
    """Move the database and its -wal/-journal to `<name>.replaced-<stamp>`; drop its -shm."""
    with contextlib.suppress(sqlite3.Error):
        # Fold the write-ahead log into the file first, so the kept copy stands on its own.
        conn = sqlite3.connect(f"{database.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    replaced = _free_name(database.with_name(f"{database.name}.replaced-{stamp}"))
    os.replace(database, replaced)
    for suffix in ("-wal", "-journal"):
        side = Path(f"{database}{suffix}")
        if side.is_file() and side.stat().st_size > 0:
            os.replace(side, Path(f"{replaced}{suffix}"))
    return replaced


def put_in_place(incoming: Path, database: Path, stamp: str, *, exists: bool) -> Path | None:
    """Swap `incoming` in for `database`; return where the replaced database is kept.

    The caller closes every connection first: none may keep writing to the file set aside.

    Raises: BackupError, with the previous database's whereabouts.
    """
    replaced = None
    try:
        if exists:
            replaced = _set_aside(database, stamp)
        for suffix in SIDE_FILES:
            remove(Path(f"{database}{suffix}"))
        os.replace(incoming, database)
        fsync(database.parent)
    except OSError as exc:
        remove(incoming)
        kept = f" The previous database is at {replaced}." if replaced else ""
        raise BackupError(f"Could not put the backup in place: {exc}.{kept}") from None
    return replaced
