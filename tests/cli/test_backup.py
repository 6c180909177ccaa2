"""`daybook backup` and `daybook restore`, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from daybook import __version__
from daybook.extensions import db
from daybook.models import Entry, User
from daybook.services import backup, backup_restore, backup_sqlite, entries, search
from tests.databases import ON_POSTGRES, SEARCH_TABLE
from tests.factories import make_entry

KIND = "postgresql" if ON_POSTGRES else "sqlite"
DATABASE_MEMBER = "database.pgdump" if ON_POSTGRES else "database.sqlite3"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _backup(runner, dest: Path, *extra: str) -> Path:
    result = runner.invoke(args=["backup", "--dest", str(dest), *extra])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def _dump_titles(dump: Path) -> set[str]:
    script = subprocess.run(
        ["pg_restore", "--data-only", "--table=entry", "--file=-", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    start = next(i for i, line in enumerate(script) if line.startswith("COPY public.entry "))
    column = script[start][script[start].index("(") + 1 : script[start].index(")")].split(", ")
    rows = script[start + 1 : script.index("\\.", start)]
    return {row.split("\t")[column.index("title")] for row in rows}


def _titles(path: Path) -> set[str]:
    """Return the titles of the entries in a backup archive (or a bare SQLite file)."""
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "database"
        if path.read_bytes().startswith(backup_sqlite.MAGIC):
            database = path
        else:
            members = _members(path)
            (name,) = [n for n in members if n.startswith("database.")]
            database.write_bytes(members[name])
            if name.endswith(".pgdump"):
                return _dump_titles(database)
        conn = backup_sqlite._open_readonly(database)
        try:
            return {row[0] for row in conn.execute("SELECT title FROM entry")}
        finally:
            conn.close()


def _live_titles() -> set[str]:
    db.session.remove()
    return set(db.session.scalars(sa.select(Entry.title).where(Entry.deleted_at.is_(None))))


def _search(term: str) -> list[str]:
    alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
    return [h.entry.title for h in search.search_entries(alice, term).hits]


def _replaced(app, data_dir: Path) -> list[Path]:
    """Return where restores kept the databases they replaced."""
    if ON_POSTGRES:
        return sorted(app.config["DAYBOOK"].backup_dir.glob("daybook-replaced-*"))
    return sorted(data_dir.glob("daybook.sqlite3.replaced-*"))


def _leftovers(data_dir: Path) -> list[Path]:
    return [*data_dir.glob(".restoring-*"), *data_dir.glob(".daybook.sqlite3.restoring-*")]


# -- backup ----------------------------------------------------------------------------------


def test_backup_writes_a_checked_private_archive_and_prints_its_path(runner, user, tmp_path):
    make_entry(user, title="First", body="one")
    make_entry(user, title="Second", body="two")

    path = _backup(runner, tmp_path / "backups")

    assert path.parent == tmp_path / "backups"
    assert backup.BACKUP_NAME.match(path.name) and path.suffix == ".tar"
    members = _members(path)
    assert list(members) == ["manifest.json", DATABASE_MEMBER, "SHA256SUMS"]
    manifest = json.loads(members["manifest.json"])
    assert manifest == {
        "format": "daybook-backup",
        "version": 1,
        "created_at": manifest["created_at"],
        "app_version": __version__,
        "database": KIND,
        "revision": manifest["revision"],
    }
    assert manifest["created_at"].endswith("Z")
    assert manifest["revision"] == backup_restore._script().get_current_head()
    assert _titles(path) == {"First", "Second"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert not [p for p in path.parent.iterdir() if p != path]


def test_backup_checksums_can_be_checked_with_sha256sum(runner, user, tmp_path):
    make_entry(user, title="Checked")
    path = _backup(runner, tmp_path / "backups")
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(path) as tar:
        for member in tar:
            (out / member.name).write_bytes(tar.extractfile(member).read())
    check = subprocess.run(["sha256sum", "--check", "SHA256SUMS"], cwd=out, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_backup_goes_to_the_backup_dir_by_default(make_app, data_dir, tmp_path):
    default_app = make_app()
    with default_app.app_context():
        result = default_app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent == data_dir / "backups"

    elsewhere = tmp_path / "elsewhere"
    configured = make_app(BACKUP_DIR=str(elsewhere))
    with configured.app_context():
        result = configured.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent == elsewhere


def test_backup_names_are_unique_within_one_second(app, tmp_path):
    moment = datetime(2026, 11, 22, 19, 55, tzinfo=UTC)
    paths = [backup.create_backup(tmp_path, now=moment).path for _ in range(3)]

    assert [p.name for p in paths] == [
        "daybook-20261122-195500.tar",
        "daybook-20261122-195500-1.tar",
        "daybook-20261122-195500-2.tar",
    ]
    assert backup.list_backups(tmp_path) == paths


def test_backup_rotation_keeps_the_newest_of_either_format(runner, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    old = [dest / f"daybook-2020010{day}-120000.sqlite3" for day in range(1, 4)]
    old += [dest / f"daybook-2020010{day}-120000.tar" for day in range(4, 6)]
    for path in old:
        path.write_bytes(b"old")
    unrelated = [dest / "notes.txt", dest / "daybook-replaced-20200101-120000.tar"]
    for path in unrelated:
        path.write_text("keep me")

    result = runner.invoke(args=["backup", "--dest", str(dest), "--keep", "3"])

    assert result.exit_code == 0, result.output
    newest = Path(result.stdout.strip())
    assert backup.list_backups(dest) == [old[3], old[4], newest]
    assert all(path.exists() for path in unrelated)
    assert f"Removed old backup {old[0]}" in result.output


def test_backup_keeps_seven_by_default(runner, tmp_path):
    for day in range(1, 10):
        (tmp_path / f"daybook-2020010{day}-120000.tar").write_bytes(b"old")
    _backup(runner, tmp_path)
    assert len(backup.list_backups(tmp_path)) == 7


def test_backup_refuses_keep_below_one(runner, tmp_path):
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b"), "--keep", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "b").exists()


def test_backup_while_another_thread_writes(app, runner, user, tmp_path):
    for n in range(50):
        make_entry(user, title=f"Seed {n}", body="words " * 300)
    user_id = user.id
    committed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        with app.app_context():
            try:
                author = db.session.get(User, user_id)
                n = 0
                while not stop.is_set():
                    entry = entries.create_entry(author, title=f"Busy {n}", body="text " * 300)
                    with lock:
                        committed.append(entry.title)
                    n += 1
            except BaseException as exc:  # reported by the test below
                errors.append(exc)
            finally:
                db.session.remove()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(committed) < 10 and time.monotonic() < deadline and writer.is_alive():
            time.sleep(0.01)
        with lock:
            before = set(committed)
        result = runner.invoke(args=["backup", "--dest", str(tmp_path)])
    finally:
        stop.set()
        writer.join(timeout=60)

    assert not errors, errors
    assert len(before) >= 10
    assert result.exit_code == 0, result.output
    titles = _titles(Path(result.stdout.strip()))
    assert before <= titles
    assert {f"Seed {n}" for n in range(50)} <= titles


def test_backup_holds_the_data_files_and_restore_puts_them_back(
    app, runner, user, data_dir, tmp_path
):
    make_entry(user, title="With files")
    photo = data_dir / "attachments" / "2026" / "photo one.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 the photo")
    export = data_dir / "exports" / "alice.json"
    export.parent.mkdir()
    export.write_text("{}")
    # None of these belong in a backup: the key, the job queue, backups, locks, temporaries.
    (data_dir / "secret_key").write_text("k" * 40)
    for name in ("jobs.sqlite3", "jobs.sqlite3-wal", "app.lock", ".env", "x.partial"):
        (data_dir / name).write_bytes(b"not in a backup")
    (data_dir / "backups").mkdir()
    (data_dir / "backups" / "daybook-20200101-000000.tar").write_bytes(b"a backup")
    (data_dir / "daybook-20200101-000000.tar").write_bytes(b"a backup")
    (data_dir / "link.json").symlink_to(export)

    saved = _backup(runner, tmp_path / "b")

    files = [name for name in _members(saved) if name.startswith("files/")]
    assert files == ["files/attachments/2026/photo one.jpg", "files/exports/alice.json"]

    photo.write_bytes(b"changed after the backup")
    export.unlink()
    later = data_dir / "attachments" / "later.txt"
    later.write_text("added after the backup")
    (data_dir / "secret_key").write_text("n" * 40)

    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    assert "Put back 2 files into the data directory." in result.output
    assert photo.read_bytes() == b"\xff\xd8 the photo"
    assert export.read_text() == "{}"
    assert later.read_text() == "added after the backup"  # files the backup lacks stay
    assert (data_dir / "secret_key").read_text() == "n" * 40
    assert (data_dir / "jobs.sqlite3").read_bytes() == b"not in a backup"
    assert _live_titles() == {"With files"}
    assert not _leftovers(data_dir)


def test_backup_fails_clearly_when_it_cannot_write(runner, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(args=["backup", "--dest", str(blocker / "backups")])
    assert result.exit_code == 1
    assert "Cannot write backups into" in result.output
    assert "Traceback" not in result.output


def test_missing_postgres_programs_give_a_clear_message(app, runner, tmp_path, monkeypatch):
    if not ON_POSTGRES:  # the programs are looked for before the server is asked anything
        app.config["DAYBOOK"] = dataclasses.replace(
            app.config["DAYBOOK"], database_url="postgresql+psycopg://daybook@localhost/daybook"
        )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    some_file = tmp_path / "backup.tar"
    some_file.write_bytes(b"x")

    for args, program in [
        (["backup", "--dest", str(tmp_path / "b")], "pg_dump"),
        (["restore", str(some_file), "--force"], "pg_restore"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        assert f"{program} was not found on the PATH; install the PostgreSQL client" in (
            result.output
        )
        assert "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: a missing database file")
def test_backup_fails_clearly_without_a_database(app, runner, data_dir, tmp_path):
    db.session.remove()
    db.engine.dispose()
    for path in data_dir.glob("daybook.sqlite3*"):
        path.unlink()
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "There is no database at" in result.output
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: integrity_check of the copy")
def test_backup_that_fails_its_integrity_check_is_not_kept(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(backup_sqlite, "integrity_problem", lambda path: "row 3 missing")
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "failed its integrity check (row 3 missing)" in result.output
    assert list((tmp_path / "b").iterdir()) == []


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: a damaged database file")
def test_backup_of_a_damaged_database_fails_clearly(app, runner, tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(8192))
    settings = app.config["DAYBOOK"]
    app.config["DAYBOOK"] = dataclasses.replace(settings, database_url=f"sqlite:///{junk}")
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert f"The backup of {junk} failed: file is not a database." in result.output
    assert list((tmp_path / "b").iterdir()) == []


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: a server that refuses")
def test_backup_fails_clearly_when_pg_dump_fails(app, runner, tmp_path, postgres_url):
    gone = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    app.config["DAYBOOK"] = dataclasses.replace(app.config["DAYBOOK"], database_url=gone)
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "pg_dump failed:" in result.output and "no_such_database" in result.output
    assert "Traceback" not in result.output
    assert list((tmp_path / "b").iterdir()) == []


# -- restore ---------------------------------------------------------------------------------


def test_backup_restore_round_trip(app, runner, user, data_dir, tmp_path):
    user_id = user.id
    keep = make_entry(user, title="Kept", body="searchable walrus", tags="zoo")
    keep_id = keep.id
    make_entry(user, title="Trashed before", body="gone")
    entries.trash_entry(user, entries.list_entries(user).items[0].id)
    saved = _backup(runner, tmp_path)
    make_entry(user, title="Written after the backup", body="later")
    entries.trash_entry(user, keep.id)

    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    assert _live_titles() == {"Kept"}
    trashed = db.session.scalars(sa.select(Entry.title).where(Entry.deleted_at.is_not(None)))
    assert set(trashed) == {"Trashed before"}
    assert _search("walrus") == ["Kept"]
    assert _search("zoo") == ["Kept"]
    assert search.index_mismatches() == []
    # New rows get new ids: the sequences came back with the data.
    assert make_entry(db.session.get(User, user_id), title="Next").id > keep_id
    (replaced,) = _replaced(app, data_dir)
    assert "Written after the backup" in _titles(replaced)
    assert f"kept as {replaced}" in result.output
    assert not _leftovers(data_dir)


def test_restore_refuses_to_replace_without_force(app, runner, user, data_dir, tmp_path):
    saved = _backup(runner, tmp_path)
    make_entry(user, title="Newer")

    result = runner.invoke(args=["restore", str(saved)])

    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert _live_titles() == {"Newer"}
    assert not _replaced(app, data_dir)
    assert not _leftovers(data_dir)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: a data directory without its file")
def test_restore_into_an_empty_data_dir_needs_no_force(runner, user, make_app, tmp_path):
    make_entry(user, title="Carried over", body="otter")
    saved = _backup(runner, tmp_path / "b")
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    # Left over from some earlier database: must not be replayed into the restored one.
    (fresh_dir / "daybook.sqlite3-wal").write_bytes(b"stale" * 1000)
    (fresh_dir / "daybook.sqlite3-shm").write_bytes(b"stale" * 1000)
    fresh = make_app(DATA_DIR=str(fresh_dir))
    with fresh.app_context():
        result = fresh.test_cli_runner().invoke(args=["restore", str(saved)])
        assert result.exit_code == 0, result.output
        assert "replaced" not in result.output
        assert _search("otter") == ["Carried over"]
        db.session.remove()
        db.engine.dispose()
    assert not list(fresh_dir.glob("*.replaced-*"))
    wal = fresh_dir / "daybook.sqlite3-wal"
    assert not wal.exists() or not wal.read_bytes().startswith(b"stale")
    assert backup_sqlite.integrity_problem(fresh_dir / "daybook.sqlite3") is None


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: an emptied database")
def test_restore_into_an_empty_postgres_database_needs_no_force(
    app, runner, user, migrated_db, tmp_path
):
    make_entry(user, title="Carried over", body="otter")
    saved = _backup(runner, tmp_path / "b")
    db.session.remove()
    migrated_db()  # empties every table, as on a server where only `daybook db upgrade` ran

    result = runner.invoke(args=["restore", str(saved)])

    assert result.exit_code == 0, result.output
    assert "replaced" not in result.output
    assert _search("otter") == ["Carried over"]
    assert not list(app.config["DAYBOOK"].backup_dir.glob("daybook-replaced-*"))


def test_restore_rebuilds_a_stale_search_index(runner, user, tmp_path):
    make_entry(user, title="Heron", body="wading bird")
    db.session.execute(sa.text(f"DELETE FROM {SEARCH_TABLE}"))
    db.session.commit()
    saved = _backup(runner, tmp_path)

    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    assert "Rebuilt the search index." in result.output
    assert search.index_mismatches() == []
    assert _search("wading") == ["Heron"]


def _rebuild(good: Path, bad: Path, edit) -> None:
    """Write `bad` as the archive `good` with its (TarInfo, bytes) members changed by `edit`."""
    with tarfile.open(good) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar]
    with tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in edit(members):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _manifest(**changes):
    def edit(members):
        info, data = members[0]
        return [(info, json.dumps({**json.loads(data), **changes}).encode()), *members[1:]]

    return edit


def _added(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE):
    def edit(members):
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        return [*members[:-1], (info, data), members[-1]]

    return edit


def _flip_database_byte(members):
    flipped = []
    for info, data in members:
        if info.name.startswith("database."):
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
        flipped.append((info, data))
    return flipped


def _bytes(data: bytes):
    def make(bad: Path, _good: Path) -> None:
        bad.write_bytes(data)

    return make


def _edited(edit):
    def make(bad: Path, good: Path) -> None:
        _rebuild(good, bad, edit)

    return make


def _cut(bad: Path, good: Path) -> None:
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (_bytes(os.urandom(8192)), "is not a Daybook backup."),
        (_bytes(b"-- not a backup\nSELECT 1;\n"), "is not a Daybook backup."),
        (_bytes(b""), "is not a Daybook backup."),
        (_cut, "incomplete"),
        (_edited(lambda members: members[:-1]), "is incomplete: it ends before its SHA256SUMS."),
        (_edited(_flip_database_byte), f"is damaged: {DATABASE_MEMBER} does not match"),
        (_edited(lambda members: members[1:]), "it does not start with a manifest"),
        (_edited(_manifest(format="zip")), "its manifest.json is not one"),
        (_edited(_manifest(version=2)), "it was probably made by a newer Daybook"),
        (_edited(_manifest(revision="from-the-future")), "which this version of Daybook does"),
        (_edited(_manifest(revision="")), "does not record one schema revision"),
        (_edited(_added("files/../secret_key")), "'files/../secret_key', which Daybook never"),
        (_edited(_added("files/secret_key")), "'files/secret_key', which Daybook never puts"),
        (_edited(_added("files/.env")), "'files/.env', which Daybook never puts"),
        (_edited(_added("files/a", kind=tarfile.SYMTYPE)), "'files/a', which Daybook never"),
        (_edited(_added("run.sh")), "'run.sh', which Daybook never puts there"),
    ],
)
def test_restore_refuses_a_bad_file_and_replaces_nothing(
    app, runner, user, data_dir, tmp_path, make_bad, message
):
    make_entry(user, title="Precious", body="x " * 2000)
    good = _backup(runner, tmp_path / "good")
    bad = tmp_path / "bad.tar"
    make_bad(bad, good)

    result = runner.invoke(args=["restore", str(bad), "--force"])

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _live_titles() == {"Precious"}
    assert not _replaced(app, data_dir)
    assert not _leftovers(data_dir)
    assert not (data_dir / "secret_key").exists()


def test_restore_refuses_a_backup_of_the_other_kind_of_database(runner, user, tmp_path):
    make_entry(user, title="Stays")
    good = _backup(runner, tmp_path / "good")
    other = "sqlite" if ON_POSTGRES else "postgresql"
    bad = tmp_path / "other.tar"
    _rebuild(good, bad, _manifest(database=other))

    result = runner.invoke(args=["restore", str(bad), "--force"])

    assert result.exit_code == 1
    ours, theirs = ("PostgreSQL", "SQLite") if ON_POSTGRES else ("SQLite", "PostgreSQL")
    assert (
        f"is a backup of a {theirs} database, but Daybook now uses {ours}; move journals "
        "between the two with `daybook export` and `daybook import` instead."
    ) in result.output
    assert _live_titles() == {"Stays"}


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: a SQLite file restored into it")
def test_restore_refuses_an_earlier_sqlite_backup_into_postgres(runner, user, tmp_path):
    make_entry(user, title="Stays")
    legacy = tmp_path / "daybook-20261101-120000.sqlite3"
    conn = sqlite3.connect(legacy)
    conn.execute("CREATE TABLE entry (id INTEGER PRIMARY KEY)")
    conn.close()

    result = runner.invoke(args=["restore", str(legacy), "--force"])

    assert result.exit_code == 1
    assert "is a backup of a SQLite database, but Daybook now uses PostgreSQL" in result.output
    assert _live_titles() == {"Stays"}


def test_restore_refuses_a_missing_file(runner, tmp_path):
    result = runner.invoke(args=["restore", str(tmp_path / "nowhere.tar"), "--force"])
    assert result.exit_code == 1
    assert "There is no file at" in result.output


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: the database file itself")
def test_restore_refuses_the_live_database(runner, data_dir):
    result = runner.invoke(args=["restore", str(data_dir / "daybook.sqlite3"), "--force"])
    assert result.exit_code == 1
    assert "is the database itself" in result.output


def test_restore_says_where_the_old_database_is_when_migrating_fails(
    app, runner, user, data_dir, tmp_path, monkeypatch
):
    saved = _backup(runner, tmp_path)

    def broken_upgrade(config, revision):
        raise RuntimeError("migration 0002 failed")

    monkeypatch.setattr(backup_restore.command, "upgrade", broken_upgrade)
    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 1
    (replaced,) = _replaced(app, data_dir)
    assert "could not be brought up to date (migration 0002 failed)" in result.output
    assert f"the previous database is at {replaced}" in result.output


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: one transaction, newer tables")
def test_postgres_restore_replaces_tables_a_newer_daybook_added(runner, user, tmp_path):
    make_entry(user, title="Before", body="kingfisher")
    saved = _backup(runner, tmp_path)
    db.session.execute(sa.text("CREATE TABLE from_a_newer_version (entry_id int REFERENCES entry)"))
    db.session.commit()

    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    assert not sa.inspect(db.engine).has_table("from_a_newer_version")
    assert _search("kingfisher") == ["Before"]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: a restore that fails in psql")
def test_postgres_restore_that_fails_leaves_the_database_as_it_was(
    runner, user, tmp_path, monkeypatch
):
    make_entry(user, title="Original")
    saved = _backup(runner, tmp_path)
    make_entry(user, title="Still here")
    db.session.remove()
    # A statement that fails half-way through the replayed script, after the schema was dropped.
    from daybook.services import backup_postgres

    real = backup_postgres._replay

    def failing(pg_restore, psql, where, preamble):
        real(pg_restore, psql, where, preamble + "SELECT 1/0;\n")

    monkeypatch.setattr(backup_postgres, "_replay", failing)
    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 1
    assert "The restore failed and the database was left as it was (psql:" in result.output
    assert "division by zero" in result.output
    assert _live_titles() == {"Original", "Still here"}


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: pg_dump, pg_restore and psql")
def test_postgres_programs_get_the_password_in_their_environment_only(
    app, runner, user, tmp_path, monkeypatch, postgres_url
):
    from sqlalchemy.engine import make_url

    # The test server trusts local connections, so any password is accepted: what matters is
    # where it travels.
    with_password = make_url(postgres_url).set(password="pass-word-42")
    app.config["DAYBOOK"] = dataclasses.replace(
        app.config["DAYBOOK"], database_url=with_password.render_as_string(hide_password=False)
    )
    started = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(args, **kwargs):
        started.append((args, kwargs.get("env")))
        return real_run(args, **kwargs)

    def popen(args, **kwargs):
        started.append((args, kwargs.get("env")))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", popen)
    make_entry(user, title="Guarded")
    saved = _backup(runner, tmp_path)
    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    programs = {Path(args[0]).name for args, _env in started}
    assert {"pg_dump", "pg_restore", "psql"} <= programs
    for args, env in started:
        assert not any("pass-word-42" in arg for arg in args), args
        if Path(args[0]).name in ("pg_dump", "psql"):
            assert env["PGPASSWORD"] == "pass-word-42"
    assert "pass-word-42" not in result.output


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only: a server still holding locks")
def test_postgres_restore_gives_up_while_the_server_holds_locks(
    runner, user, tmp_path, monkeypatch, postgres_url
):
    import psycopg

    from daybook.services import backup_postgres

    make_entry(user, title="Read by the server")
    saved = _backup(runner, tmp_path)
    monkeypatch.setattr(backup_postgres, "LOCK_TIMEOUT", "200ms")
    server = psycopg.connect(postgres_url.replace("+psycopg", ""))
    try:
        server.execute("SELECT count(*) FROM entry")  # its transaction stays open
        result = runner.invoke(args=["restore", str(saved), "--force"])
    finally:
        server.close()

    assert result.exit_code == 1
    assert "The restore failed and the database was left as it was" in result.output
    assert "lock timeout" in result.output
    assert _live_titles() == {"Read by the server"}


# -- backups made by earlier versions: a bare SQLite file -------------------------------------


def _legacy_copy(data_dir: Path, target: Path) -> None:
    """Make a backup the way earlier versions of `daybook backup` did."""
    conn = sqlite3.connect(data_dir / "daybook.sqlite3")
    conn.execute("VACUUM INTO ?", (str(target),))
    conn.close()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: earlier backups were SQLite files")
def test_restore_takes_a_backup_made_by_an_earlier_version(runner, user, data_dir, tmp_path):
    make_entry(user, title="From before", body="pelican")
    legacy = tmp_path / "daybook-20261101-120000.sqlite3"
    _legacy_copy(data_dir, legacy)
    make_entry(user, title="Later")

    result = runner.invoke(args=["restore", str(legacy), "--force"])

    assert result.exit_code == 0, result.output
    assert _live_titles() == {"From before"}
    assert _search("pelican") == ["From before"]


def _sqlite_edit(sql: str):
    def make(bad: Path, data_dir: Path) -> None:
        _legacy_copy(data_dir, bad)
        conn = sqlite3.connect(bad)
        conn.execute(sql)
        conn.commit()
        conn.close()

    return make


def _other_sqlite(bad: Path, _data_dir: Path) -> None:
    conn = sqlite3.connect(bad)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.close()


def _legacy_cut(bad: Path, data_dir: Path) -> None:
    _legacy_copy(data_dir, bad)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])


def _corrupt_page(bad: Path, data_dir: Path) -> None:
    _legacy_copy(data_dir, bad)
    data = bytearray(bad.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset : offset + 64] = os.urandom(64)
    bad.write_bytes(bytes(data))


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: earlier backups were SQLite files")
@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (_legacy_cut, "is not a usable SQLite database"),
        (_corrupt_page, "is not a usable SQLite database"),
        (_other_sqlite, "is not a Daybook database"),
        (_sqlite_edit("UPDATE alembic_version SET version_num = 'x'"), "does not know"),
        (_sqlite_edit("DELETE FROM alembic_version"), "does not record one schema revision"),
    ],
)
def test_restore_refuses_a_bad_earlier_backup(runner, user, data_dir, tmp_path, make_bad, message):
    make_entry(user, title="Precious", body="x " * 2000)
    bad = tmp_path / "bad.sqlite3"
    make_bad(bad, data_dir)

    result = runner.invoke(args=["restore", str(bad), "--force"])

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _live_titles() == {"Precious"}
    assert not list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert not _leftovers(data_dir)
