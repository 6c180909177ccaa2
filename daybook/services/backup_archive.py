"""The backup archive: a tar of manifest.json, the database, the data directory's files, SHA256SUMS.

Members, in this order:
  manifest.json        what the backup is (format, database kind, schema revision, times)
  database.sqlite3     a checked copy of the SQLite database, or
  database.pgdump      pg_dump's custom format
  files/<path>         the data directory's own files (see `skipped`)
  SHA256SUMS           `sha256sum -c` format, over every member before it
The manifest comes first so that a backup of the wrong kind is refused before anything else is
read; the checksums come last, so that an archive cut short anywhere is noticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, cast

from daybook.errors import DaybookError

FORMAT = "daybook-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FILES = "files/"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_MAX_MANIFEST = 64 * 1024
_MAX_SUMS = 64 * 1024 * 1024

# Never put in a backup, nor taken from one. The secret key: a stolen backup must not be enough to
# forge cookies. The job queue: restored, old jobs would run again. Backups themselves, files that
# SQLite or a process keeps beside live data, and hidden (temporary) files.
_SKIPPED_TOP = ("secret_key",)
_SKIPPED_TOP_PREFIXES = ("jobs.sqlite3", "daybook.sqlite3")
_BACKUP_FILE = re.compile(r"daybook-(?:replaced-)?\d{8}-\d{6}")
_SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".pid", ".sock", ".partial")


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BackupError(DaybookError):
    """A backup or restore cannot go ahead; the message is one sentence for the operator."""


@dataclass
class Unpacked:
    """An archive read into a staging directory and checked against its checksums."""

    manifest: dict[str, Any]
    database: Path
    files: list[tuple[Path, PurePosixPath]] = field(default_factory=list)


def make_manifest(kind: str, revision: str, created_at: str, app_version: str) -> dict[str, Any]:
    """Return the manifest of a backup of a `kind` database at schema `revision`."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": created_at,
        "app_version": app_version,
        "database": kind,
        "revision": revision,
    }


def skipped(rel: PurePosixPath, database: PurePosixPath | None = None) -> bool:
    """Tell whether the data directory's file at `rel` stays out of backups (and restores).

    `database` is where the SQLite database is in the data directory: it and the files named
    after it (-wal, .replaced-…) are copied by other means, or not at all.
    """
    name = rel.name
    if any(part.startswith(".") for part in rel.parts) or name.endswith(_SKIPPED_SUFFIXES):
        return True
    if database is not None and str(rel).startswith(str(database)):
        return True
    if len(rel.parts) == 1:
        return (
            name in _SKIPPED_TOP
            or name.startswith(_SKIPPED_TOP_PREFIXES)
            or bool(_BACKUP_FILE.match(name))
        )
    return False


def data_files(
    data_dir: Path, *, database: PurePosixPath | None, excluded_dirs: tuple[Path, ...]
) -> list[tuple[Path, str]]:
    """List the data directory's files that go into a backup, as (path, name inside files/).

    Symbolic links and special files are left out, as are names a checksum line cannot hold.
    """
    found = []
    excluded = {d.resolve() for d in excluded_dirs}

    def unreadable(exc: OSError) -> None:
        raise exc  # a directory we cannot read would otherwise be left out without a word

    for root, dirs, names in os.walk(data_dir, onerror=unreadable):
        here = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (here / d).resolve() not in excluded
        )
        for name in sorted(names):
            path = here / name
            rel = PurePosixPath(path.relative_to(data_dir).as_posix())
            if "\n" in str(rel) or "\\" in str(rel) or skipped(rel, database):
                continue
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                if stat.S_ISREG(path.lstat().st_mode):
                    found.append((path, str(rel)))
    return found


class _Hashing:
    def __init__(self, source: IO[bytes]):
        self.source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data


def _info(name: str, size: int, mtime: float, mode: int = 0o600) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), mode
    return info


def write_archive(
    out: Sink, manifest: dict[str, Any], database: Path, files: list[tuple[Path, str]]
) -> None:
    """Write the archive into `out`; a data file removed meanwhile is left out.

    Raises: OSError.
    """
    sums: list[tuple[str, str]] = []
    now = time.time()
    # In stream mode ("w|") tarfile only ever calls write(): an encrypting writer will do.
    with tarfile.open(fileobj=cast(IO[bytes], out), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        data = json.dumps(manifest, indent=2).encode() + b"\n"
        tar.addfile(_info(MANIFEST, len(data), now), io.BytesIO(data))
        sums.append((hashlib.sha256(data).hexdigest(), MANIFEST))
        members = [(database, DATABASE_MEMBERS[manifest["database"]])]
        members += [(path, FILES + rel) for path, rel in files]
        for path, name in members:
            digest = _add_file(tar, path, name, required=path == database)
            if digest:
                sums.append((digest, name))
        listing = "".join(f"{digest}  {name}\n" for digest, name in sums).encode()
        tar.addfile(_info(SUMS, len(listing), now), io.BytesIO(listing))


def _add_file(tar: tarfile.TarFile, path: Path, name: str, *, required: bool) -> str | None:
    try:
        source = open(path, "rb")
    except FileNotFoundError:
        if required:
            raise
        return None
    with source:
        st = os.fstat(source.fileno())
        hashing = _Hashing(source)
        tar.addfile(_info(name, st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode)), hashing)
    return hashing.digest.hexdigest()


def _check_manifest(data: bytes, shown: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{shown} is not a Daybook backup: its manifest.json is not one.")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BackupError(
            f"{shown} is a backup format ({version!r}) this version of Daybook does not know; "
            "it was probably made by a newer Daybook."
        )
    if manifest.get("database") not in DATABASE_MEMBERS:
        raise BackupError(f"{shown} is a backup of an unknown kind of database.")
    if not isinstance(manifest.get("revision"), str) or not manifest["revision"]:
        raise BackupError(f"{shown} does not record one schema revision; it cannot be restored.")
    return manifest


def _file_name(name: str, shown: str, allowed: Callable[[PurePosixPath], bool]) -> PurePosixPath:
    rel = PurePosixPath(name[len(FILES) :])
    if (
        rel.is_absolute()
        or str(rel) != name[len(FILES) :]
        or any(part in ("", ".", "..") for part in rel.parts)
        or "\\" in name
        or not allowed(rel)
    ):
        raise BackupError(f"{shown} holds {name!r}, which Daybook never puts in a backup.")
    return rel


def _members(tar: tarfile.TarFile, shown: str) -> Iterator[tarfile.TarInfo]:
    seen = set()
    for member in tar:
        if not member.isreg() or member.name in seen:
            raise BackupError(f"{shown} holds {member.name!r}, which Daybook never puts there.")
        seen.add(member.name)
        yield member


def _copy(source: IO[bytes], target: Path, mode: int) -> str:
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o700 or 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def read_archive(
    source: Source,
    staging: Path,
    *,
    shown: str,
    check: Callable[[dict[str, Any]], None],
    allowed: Callable[[PurePosixPath], bool],
) -> Unpacked:
    """Unpack the archive read from `source` into the empty directory `staging`, checking it all.

    `check` is called with the manifest before anything else is read, to refuse a backup early.

    Raises: BackupError, and from `source` whatever its read() raises.
    """
    try:
        # In stream mode ("r|") tarfile only ever calls read(): a decrypting reader will do.
        tar = tarfile.open(fileobj=cast(IO[bytes], source), mode="r|")
    except tarfile.TarError:
        raise BackupError(f"{shown} is not a Daybook backup.") from None
    try:
        with tar:
            members = _members(tar, shown)
            first = next(members, None)
            if first is None or first.name != MANIFEST or first.size > _MAX_MANIFEST:
                raise BackupError(
                    f"{shown} is not a Daybook backup: it does not start with a manifest."
                )
            data = _extracted(tar, first).read()
            unpacked = Unpacked(_check_manifest(data, shown), staging / "database")
            check(unpacked.manifest)
            digests = {MANIFEST: hashlib.sha256(data).hexdigest()}
            listed = _unpack_members(tar, members, unpacked, digests, shown, allowed)
    except (tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{shown} is damaged or incomplete ({exc}).") from None
    database_name = DATABASE_MEMBERS[unpacked.manifest["database"]]
    if listed is None:
        raise BackupError(f"{shown} is incomplete: it ends before its {SUMS}.")
    if database_name not in digests:
        raise BackupError(f"{shown} is damaged: it holds no {database_name}.")
    if listed != digests:
        wrong = sorted(set(listed) ^ set(digests)) or sorted(
            n for n in digests if listed[n] != digests[n]
        )
        raise BackupError(f"{shown} is damaged: {wrong[0]} does not match its checksum.")
    return unpacked


def _unpack_members(
    tar: tarfile.TarFile,
    members: Iterator[tarfile.TarInfo],
    unpacked: Unpacked,
    digests: dict[str, str],
    shown: str,
    allowed: Callable[[PurePosixPath], bool],
) -> dict[str, str] | None:
    """Unpack the members after the manifest, recording their digests; return the listed ones."""
    database_name = DATABASE_MEMBERS[unpacked.manifest["database"]]
    staging = unpacked.database.parent
    listed = None
    for member in members:
        if listed is not None:
            raise BackupError(f"{shown} is damaged: {member.name!r} follows {SUMS}.")
        if member.name == SUMS and member.size <= _MAX_SUMS:
            listed = _parse_sums(_extracted(tar, member).read(), shown)
        elif member.name == database_name:
            digests[member.name] = _copy(_extracted(tar, member), unpacked.database, 0o600)
        elif member.name.startswith(FILES):
            rel = _file_name(member.name, shown, allowed)
            target = staging / "files" / rel
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            digests[member.name] = _copy(_extracted(tar, member), target, member.mode)
            os.utime(target, (member.mtime, member.mtime))
            unpacked.files.append((target, rel))
        else:
            raise BackupError(f"{shown} holds {member.name!r}, which Daybook never puts there.")
    return listed


def _extracted(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    extracted = tar.extractfile(member)
    assert extracted is not None  # noqa: S101 (regular files only, checked in _members)
    return extracted


_SUM_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


def _parse_sums(data: bytes, shown: str) -> dict[str, str]:
    listed = {}
    for line in data.decode("utf-8", "replace").splitlines():
        match = _SUM_LINE.fullmatch(line)
        if not match:
            raise BackupError(f"{shown} is damaged: its {SUMS} cannot be read.")
        listed[match.group(2)] = match.group(1)
    return listed
