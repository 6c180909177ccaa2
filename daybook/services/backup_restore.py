"""Restore a backup: check all of it, then replace the database and files, migrate, re-index."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app

from daybook.config import Settings
from daybook.extensions import db
from daybook.services import backup_postgres as postgres
from daybook.services import backup_sqlite as sqlite
from daybook.services.backup import (
    backup_time,
    database_in_data_dir,
    database_kind,
    database_shown,
    reserve_name,
    write_backup,
)
from daybook.services.backup_archive import KIND_NAMES, BackupError, Unpacked, read_archive, skipped
from daybook.services.backup_crypto import MAGIC, DecryptingReader, DecryptionError


@dataclass
class RestoreResult:
    database: Path | str
    replaced: Path | None
    revision_before: str
    revision_after: str
    reindexed: bool
    files: int = 0


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def _check_revision(revision: str, shown: str) -> str:
    try:
        _script().get_revision(revision)
    except CommandError:
        raise BackupError(
            f"{shown} has schema revision {revision!r}, which this version of Daybook does not "
            "know; it was probably made by a newer Daybook."
        ) from None
    return revision


def _wrong_kind(shown: str, theirs: str, ours: str) -> BackupError:
    return BackupError(
        f"{shown} is a backup of a {KIND_NAMES[theirs]} database, but Daybook now uses "
        f"{KIND_NAMES[ours]}; move journals between the two with `daybook export` and "
        "`daybook import` instead."
    )


def _form(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(MAGIC):
        return "encrypted"
    if head.startswith(sqlite.MAGIC):
        return "sqlite"
    if head[257:262] == b"ustar":
        return "archive"
    raise BackupError(f"{path} is not a Daybook backup.")


def restore_backup(
    source: Path,
    *,
    force: bool = False,
    now: datetime | None = None,
    passphrase: str | None = None,
) -> RestoreResult:
    """Put the backup `source` in place of the database and files, then migrate and re-index.

    The whole file is checked before anything is touched. A replaced SQLite database is kept
    beside it as `<name>.replaced-<time>`; a replaced PostgreSQL database is first saved as a
    backup, `daybook-replaced-<time>.tar`, in the backup directory. `passphrase` opens an
    encrypted backup, and encrypts that saved one.

    Raises: BackupError, with the database untouched unless the message says otherwise.
    """
    settings = current_app.config["DAYBOOK"]
    kind = database_kind(settings)
    source = source.expanduser().resolve()
    if not source.is_file():
        raise BackupError(f"There is no file at {source}.")
    if kind == "sqlite":
        database = sqlite.sqlite_path(settings.database_url)
        if source == database:
            raise BackupError(f"{source} is the database itself; name a backup file.")
        exists = sqlite.has_database(database)
        keep_note = "it will be kept as a .replaced-<time> file beside it"
    else:
        for program in ("pg_restore", "psql", "pg_dump"):
            postgres.program(program)
        exists = postgres.in_use(db.engine)
        keep_note = "it will be saved as a backup first"
    if exists and not force:
        raise BackupError(
            f"A database already exists at {database_shown(settings, kind)}; add --force to "
            f"replace it ({keep_note})."
        )
    form = _form(source)
    stamp = backup_time(now)
    staging = Path(tempfile.mkdtemp(prefix=f".restoring-{stamp}-", dir=settings.data_dir))
    try:
        if form == "sqlite":
            if kind != "sqlite":
                raise _wrong_kind(str(source), "sqlite", kind)
            unpacked = Unpacked({"database": "sqlite"}, source)
        else:
            unpacked = _unpack(source, form, staging, settings, kind, passphrase)
        if kind == "sqlite":
            result = _restore_sqlite(settings, unpacked, source, stamp, exists)
        else:
            result = _restore_postgres(settings, unpacked, source, stamp, exists, passphrase)
        result.files = _put_files(settings, unpacked)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(
    source: Path, form: str, staging: Path, settings: Settings, kind: str, passphrase: str | None
) -> Unpacked:
    shown = str(source)
    database = database_in_data_dir(settings, kind)

    def check(manifest: dict[str, Any]) -> None:
        if manifest["database"] != kind:
            raise _wrong_kind(shown, manifest["database"], kind)
        _check_revision(manifest["revision"], shown)

    def allowed(rel: PurePosixPath) -> bool:
        # resolve(): a symbolic link in the data directory must not lead a file elsewhere.
        target = (settings.data_dir / rel).resolve()
        return (
            not skipped(rel, database)
            and target.is_relative_to(settings.data_dir)
            and not target.is_relative_to(settings.backup_dir)
        )

    with open(source, "rb") as fh:
        if form == "archive":
            return read_archive(fh, staging, shown=shown, check=check, allowed=allowed)
        if passphrase is None:
            raise BackupError(f"{source} is encrypted; give its passphrase to restore it.")
        try:
            reader = DecryptingReader(fh, passphrase)
            unpacked = read_archive(reader, staging, shown=shown, check=check, allowed=allowed)
            reader.verify_rest()
        except DecryptionError as exc:
            raise BackupError(f"{source} cannot be decrypted: {exc}.") from None
        return unpacked


def _restore_sqlite(
    settings: Settings, unpacked: Unpacked, source: Path, stamp: str, exists: bool
) -> RestoreResult:
    database = sqlite.sqlite_path(settings.database_url)
    _check_revision(sqlite.check_restorable(unpacked.database, str(source)), str(source))
    try:
        incoming = sqlite.stage(unpacked.database, database, stamp)
        # Check the copy too: the file may have changed, or been cut short, while we copied it.
        revision = _check_revision(sqlite.check_restorable(incoming, str(source)), str(source))
    except OSError as exc:
        raise BackupError(f"Cannot copy {source} beside {database}: {exc}.") from None
    except BackupError:
        sqlite.remove(database.with_name(f".{database.name}.restoring-{stamp}"))
        raise
    # Close every pooled connection: none may keep writing to the file being set aside.
    db.session.remove()
    db.engine.dispose()
    replaced = sqlite.put_in_place(incoming, database, stamp, exists=exists)
    return _finish_restore(database, replaced, revision)


def _restore_postgres(
    settings: Settings,
    unpacked: Unpacked,
    source: Path,
    stamp: str,
    exists: bool,
    passphrase: str | None,
) -> RestoreResult:
    revision = _check_revision(postgres.check_dump(unpacked.database, str(source)), str(source))
    replaced = None
    if exists:
        dest = settings.backup_dir
        try:
            dest.mkdir(parents=True, exist_ok=True, mode=0o700)
            suffix = ".tar.enc" if passphrase is not None else ".tar"
            replaced = reserve_name(dest, stamp, suffix, prefix="daybook-replaced-")
        except OSError as exc:
            raise BackupError(f"Cannot save the current database into {dest}: {exc}.") from None
        write_backup(settings, "postgresql", replaced, passphrase=passphrase, now=None)
    db.session.remove()
    db.engine.dispose()
    postgres.restore(db.engine, settings.database_url, unpacked.database)
    return _finish_restore(database_shown(settings, "postgresql"), replaced, revision)


def _finish_restore(database: Path | str, replaced: Path | None, revision: str) -> RestoreResult:
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


def _put_files(settings: Settings, unpacked: Unpacked) -> int:
    """Move the backup's files into the data directory, over files of the same name."""
    for staged, rel in unpacked.files:
        target = settings.data_dir / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(staged, target)
        except OSError as exc:
            raise BackupError(
                f"The database was restored, but {rel} could not be put in the data directory: "
                f"{exc.strerror or exc}."
            ) from None
    return len(unpacked.files)
