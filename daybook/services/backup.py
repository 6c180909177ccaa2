"""Backups of the SQLite database: a consistent copy while the server runs, rotation, restore."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from sqlalchemy.engine import make_url

from daybook.errors import DaybookError
from daybook.extensions import db

BACKUP_NAME = re.compile(r"^daybook-(\d{8})-(\d{6})(?:-(\d+))?\.sqlite3$")
DEFAULT_KEEP = 7
BUSY_TIMEOUT_S = 30.0
REQUIRED_TABLES = ("alembic_version", "entry")
# Files SQLite keeps beside a database. A -wal or -journal left next to a new file would be
# replayed into it, so they move with the database they belong to; -shm is only an index.
SIDE_FILES = ("-wal", "-journal", "-shm")


class BackupError(DaybookError):
    """A backup or restore cannot go ahead; the message is one sentence for the operator."""


@dataclass
class BackupResult:
    path: Path
    removed: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    database: Path
    replaced: Path | None
    revision_before: str
    revision_after: str
    reindexed: bool


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def sqlite_path(database_url: str) -> Path:
    """Return the file of a SQLite database URL.

    Raises: BackupError for any other database, or SQLite in memory.
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend != "sqlite":
        raise BackupError(
            f"Backup and restore of a {backend} database are not supported yet "
            "(PostgreSQL backups come with production mode)."
        )
    if url.database in (None, "", ":memory:"):
        raise BackupError("An in-memory SQLite database has no file to back up or restore.")
    return Path(url.database).expanduser().resolve()


def _settings_database() -> Path:
    return sqlite_path(current_app.config["DAYBOOK"].database_url)


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


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _reserve_name(dest: Path, stamp: str) -> Path:
    """Create an empty file under a backup name nobody has used, even within the same second."""
    n = 0
    while True:
        path = dest / (f"daybook-{stamp}.sqlite3" if n == 0 else f"daybook-{stamp}-{n}.sqlite3")
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
        _remove(path)
    return doomed


def create_backup(
    dest: Path | None = None, *, keep: int = DEFAULT_KEEP, now: datetime | None = None
) -> BackupResult:
    """Copy the live database into `dest` as one consistent, checked file; keep the newest `keep`.

    VACUUM INTO reads the whole database in a single read transaction, so a busy writer can
    neither corrupt the copy nor make it start over (as a step-wise online backup would).

    Raises: BackupError.
    """
    if keep < 1:
        raise BackupError("--keep must be at least 1.")
    database = _settings_database()
    if not database.is_file():
        raise BackupError(f"There is no database at {database} to back up.")
    dest = (dest or current_app.config["DAYBOOK"].backup_dir).expanduser().resolve()
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = _reserve_name(dest, _stamp(now))
    except OSError as exc:
        raise BackupError(f"Cannot write backups into {dest}: {exc.strerror or exc}.") from None
    partial = dest / f".{final.name}.partial"
    try:
        _copy_database(database, partial)
        os.replace(partial, final)
        _fsync(dest)
    except BaseException as exc:
        # Also on Ctrl-C: never leave a half copy, or an empty file with a backup's name.
        _remove(partial)
        _remove(final)
        if isinstance(exc, sqlite3.Error | OSError):
            raise BackupError(f"The backup of {database} failed: {exc}.") from None
        raise
    return BackupResult(final, rotate_backups(dest, keep))


def _copy_database(database: Path, target: Path) -> None:
    _remove(target)
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
    _fsync(target)


# -- restore ---------------------------------------------------------------------------------


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def check_restorable(path: Path) -> str:
    """Check that `path` is a sound Daybook database this version can use; return its revision.

    Raises: BackupError saying what is wrong with the file.
    """
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    problem = integrity_problem(path)
    if problem:
        raise BackupError(f"{path} is not a usable SQLite database: {problem}.")
    conn = _open_readonly(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise BackupError(
                f"{path} is not a Daybook database: it has no {' or '.join(missing)} table."
            )
        revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read as a Daybook database: {exc}.") from None
    finally:
        conn.close()
    if len(revisions) != 1 or not isinstance(revisions[0], str) or not revisions[0]:
        raise BackupError(f"{path} does not record one schema revision; it cannot be restored.")
    try:
        _script().get_revision(revisions[0])
    except CommandError:
        raise BackupError(
            f"{path} has schema revision {revisions[0]!r}, which this version of Daybook does not "
            "know; it was probably made by a newer Daybook."
        ) from None
    return revisions[0]


def _has_database(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


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


def restore_backup(
    source: Path, *, force: bool = False, now: datetime | None = None
) -> RestoreResult:
    """Put the backup `source` in place of the database, then migrate and re-index it.

    The file is checked and copied beside the database before anything is touched; the
    database it replaces is kept as `<name>.replaced-<time>`.

    Raises: BackupError, with the database untouched unless the message says otherwise.
    """
    database = _settings_database()
    source = source.expanduser().resolve()
    if source == database:
        raise BackupError(f"{source} is the database itself; name a backup file.")
    check_restorable(source)
    exists = _has_database(database)
    if exists and not force:
        raise BackupError(
            f"A database already exists at {database}; add --force to replace it "
            "(it will be kept as a .replaced-<time> file beside it)."
        )
    stamp = _stamp(now)
    incoming = database.with_name(f".{database.name}.restoring-{stamp}")
    try:
        shutil.copyfile(source, incoming)
        os.chmod(incoming, 0o600)
        _fsync(incoming)
        # Check the copy too: the file may have changed, or been cut short, while we copied it.
        revision = check_restorable(incoming)
    except OSError as exc:
        _remove(incoming)
        raise BackupError(f"Cannot copy {source} beside {database}: {exc}.") from None
    except BackupError:
        _remove(incoming)
        raise

    # Close every pooled connection: none may keep writing to the file being set aside.
    db.session.remove()
    db.engine.dispose()
    replaced = None
    try:
        if exists:
            replaced = _set_aside(database, stamp)
        for suffix in SIDE_FILES:
            _remove(Path(f"{database}{suffix}"))
        os.replace(incoming, database)
        _fsync(database.parent)
    except OSError as exc:
        _remove(incoming)
        kept = f" The previous database is at {replaced}." if replaced else ""
        raise BackupError(f"Could not put the backup in place: {exc}.{kept}") from None
    return _finish_restore(database, replaced, revision)


def _finish_restore(database: Path, replaced: Path | None, revision: str) -> RestoreResult:
    from daybook.services import search

    try:
        command.upgrade(current_app.extensions["migrate"].migrate.get_config(), "head")
        after = _script().get_current_head() or revision
        reindex = bool(search.index_mismatches())
        if reindex:
            search.rebuild_index()
        db.session.remove()
    except Exception as exc:
        db.session.remove()
        kept = f"; the previous database is at {replaced}" if replaced else ""
        raise BackupError(
            f"The backup is in place at {database} but could not be brought up to date "
            f"({exc}){kept}."
        ) from None
    return RestoreResult(database, replaced, revision, after, reindex)
