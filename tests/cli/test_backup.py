"""`daybook backup` and `daybook restore`: consistent copies, rotation, checks, round trips."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from daybook import create_app
from daybook.extensions import db
from daybook.models import Entry, User
from daybook.services import backup, entries, search
from tests.databases import ON_POSTGRES, POSTGRES_BACKUPS
from tests.factories import make_entry

# These back up and restore the SQLite file.
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason=POSTGRES_BACKUPS)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)


def _titles(path: Path) -> set[str]:
    conn = _open(path)
    try:
        return {row[0] for row in conn.execute("SELECT title FROM entry")}
    finally:
        conn.close()


def _backup(runner, dest: Path, *extra: str) -> Path:
    result = runner.invoke(args=["backup", "--dest", str(dest), *extra])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def _live_titles() -> set[str]:
    db.session.remove()
    return set(db.session.scalars(sa.select(Entry.title).where(Entry.deleted_at.is_(None))))


# -- backup ----------------------------------------------------------------------------------


def test_backup_writes_a_checked_private_copy_and_prints_its_path(runner, user, tmp_path):
    make_entry(user, title="First", body="one")
    make_entry(user, title="Second", body="two")

    path = _backup(runner, tmp_path / "backups")

    assert path.parent == tmp_path / "backups"
    assert backup.BACKUP_NAME.match(path.name)
    assert backup.integrity_problem(path) is None
    assert _titles(path) == {"First", "Second"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(path.parent.glob(".*partial"))


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
        "daybook-20261122-195500.sqlite3",
        "daybook-20261122-195500-1.sqlite3",
        "daybook-20261122-195500-2.sqlite3",
    ]
    assert backup.list_backups(tmp_path) == paths


def test_backup_rotation_keeps_the_newest(runner, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    old = [dest / f"daybook-2020010{day}-120000.sqlite3" for day in range(1, 6)]
    for path in old:
        path.write_bytes(b"old")
    unrelated = dest / "notes.txt"
    unrelated.write_text("keep me")

    result = runner.invoke(args=["backup", "--dest", str(dest), "--keep", "3"])

    assert result.exit_code == 0, result.output
    newest = Path(result.stdout.strip())
    assert backup.list_backups(dest) == [old[3], old[4], newest]
    assert unrelated.exists()
    assert f"Removed old backup {old[0]}" in result.output


def test_backup_keeps_seven_by_default(runner, tmp_path):
    for day in range(1, 10):
        (tmp_path / f"daybook-2020010{day}-120000.sqlite3").write_bytes(b"old")
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
    path = Path(result.stdout.strip())
    assert backup.integrity_problem(path) is None
    titles = _titles(path)
    assert before <= titles
    assert {f"Seed {n}" for n in range(50)} <= titles


def test_backup_refuses_a_non_sqlite_database(app, runner, tmp_path):
    settings = app.config["DAYBOOK"]
    app.config["DAYBOOK"] = dataclasses.replace(
        settings, database_url="postgresql+psycopg://daybook@localhost/daybook"
    )
    for args in (["backup", "--dest", str(tmp_path)], ["restore", str(tmp_path / "x.sqlite3")]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "not supported yet (PostgreSQL backups come with production mode)" in result.output


def test_backup_fails_clearly_when_it_cannot_write(runner, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(args=["backup", "--dest", str(blocker / "backups")])
    assert result.exit_code == 1
    assert "Cannot write backups into" in result.output
    assert "Traceback" not in result.output


def test_backup_fails_clearly_without_a_database(app, runner, data_dir, tmp_path):
    db.session.remove()
    db.engine.dispose()
    for path in data_dir.glob("daybook.sqlite3*"):
        path.unlink()
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "There is no database at" in result.output
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())


# -- restore ---------------------------------------------------------------------------------


def test_backup_restore_round_trip(runner, user, data_dir, tmp_path):
    keep = make_entry(user, title="Kept", body="searchable walrus", tags="zoo")
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
    alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
    assert [h.entry.title for h in search.search_entries(alice, "walrus").hits] == ["Kept"]
    assert [h.entry.title for h in search.search_entries(alice, "zoo").hits] == ["Kept"]
    assert search.index_mismatches() == []
    replaced = list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert len(replaced) == 1
    assert "Written after the backup" in _titles(replaced[0])
    assert backup.integrity_problem(replaced[0]) is None
    assert f"kept as {replaced[0]}" in result.output


def test_restore_refuses_to_replace_without_force(runner, user, data_dir, tmp_path):
    saved = _backup(runner, tmp_path)
    make_entry(user, title="Newer")

    result = runner.invoke(args=["restore", str(saved)])

    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert _live_titles() == {"Newer"}
    assert not list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert not list(data_dir.glob(".daybook.sqlite3.restoring-*"))


def test_restore_into_an_empty_data_dir_needs_no_force(runner, user, tmp_path):
    make_entry(user, title="Carried over", body="otter")
    saved = _backup(runner, tmp_path / "b")
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    # Left over from some earlier database: must not be replayed into the restored one.
    (fresh_dir / "daybook.sqlite3-wal").write_bytes(b"stale" * 1000)
    (fresh_dir / "daybook.sqlite3-shm").write_bytes(b"stale" * 1000)
    fresh = create_app({"DATA_DIR": str(fresh_dir), "SECRET_KEY": "test-secret-key-0123456789"})
    try:
        with fresh.app_context():
            result = fresh.test_cli_runner().invoke(args=["restore", str(saved)])
            assert result.exit_code == 0, result.output
            assert "replaced" not in result.output
            alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
            assert [h.entry.title for h in search.search_entries(alice, "otter").hits] == [
                "Carried over"
            ]
            db.session.remove()
            db.engine.dispose()
    finally:
        with fresh.app_context():
            db.engine.dispose()
    assert not list(fresh_dir.glob("*.replaced-*"))
    wal = fresh_dir / "daybook.sqlite3-wal"
    assert not wal.exists() or not wal.read_bytes().startswith(b"stale")
    assert backup.integrity_problem(fresh_dir / "daybook.sqlite3") is None


def test_restore_rebuilds_a_stale_search_index(runner, user, tmp_path):
    make_entry(user, title="Heron", body="wading bird")
    saved = _backup(runner, tmp_path)
    conn = sqlite3.connect(saved)
    conn.execute("DELETE FROM entry_fts")
    conn.commit()
    conn.close()

    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 0, result.output
    assert "Rebuilt the search index." in result.output
    assert search.index_mismatches() == []
    alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
    assert [h.entry.title for h in search.search_entries(alice, "wading").hits] == ["Heron"]


def _random_bytes(path: Path, _good: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _text(path: Path, _good: Path) -> None:
    path.write_text("-- not a database\nSELECT 1;\n")


def _empty(path: Path, _good: Path) -> None:
    path.write_bytes(b"")


def _other_sqlite(path: Path, _good: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.commit()
    conn.close()


def _future_revision(path: Path, good: Path) -> None:
    shutil.copyfile(good, path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = 'from-the-future'")
    conn.commit()
    conn.close()


def _no_revision(path: Path, good: Path) -> None:
    shutil.copyfile(good, path)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM alembic_version")
    conn.commit()
    conn.close()


def _corrupt_page(path: Path, good: Path) -> None:
    data = bytearray(good.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset : offset + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (_random_bytes, "is not a usable SQLite database"),
        (_truncated, "is not a usable SQLite database"),
        (_text, "is not a usable SQLite database"),
        (_empty, "is not a Daybook database"),
        (_other_sqlite, "is not a Daybook database"),
        (_future_revision, "does not know"),
        (_no_revision, "does not record one schema revision"),
        (_corrupt_page, "is not a usable SQLite database"),
    ],
)
def test_restore_refuses_a_bad_file_and_replaces_nothing(
    runner, user, data_dir, tmp_path, make_bad, message
):
    make_entry(user, title="Precious", body="x " * 2000)
    good = _backup(runner, tmp_path / "good")
    bad = tmp_path / "bad.sqlite3"
    make_bad(bad, good)

    result = runner.invoke(args=["restore", str(bad), "--force"])

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _live_titles() == {"Precious"}
    assert not list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert not list(data_dir.glob(".daybook.sqlite3.restoring-*"))


def test_restore_refuses_a_missing_file_and_the_live_database(runner, data_dir, tmp_path):
    result = runner.invoke(args=["restore", str(tmp_path / "nowhere.sqlite3"), "--force"])
    assert result.exit_code == 1
    assert "There is no file at" in result.output

    result = runner.invoke(args=["restore", str(data_dir / "daybook.sqlite3"), "--force"])
    assert result.exit_code == 1
    assert "is the database itself" in result.output


def test_backup_that_fails_its_integrity_check_is_not_kept(runner, monkeypatch, tmp_path):
    monkeypatch.setattr(backup, "integrity_problem", lambda path: "row 3 missing from index")
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "failed its integrity check (row 3 missing from index)" in result.output
    assert list((tmp_path / "b").iterdir()) == []


def test_backup_of_a_damaged_database_fails_clearly(app, runner, tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(8192))
    settings = app.config["DAYBOOK"]
    app.config["DAYBOOK"] = dataclasses.replace(settings, database_url=f"sqlite:///{junk}")
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert f"The backup of {junk} failed: file is not a database." in result.output
    assert list((tmp_path / "b").iterdir()) == []


def test_restore_says_where_the_old_database_is_when_migrating_fails(
    runner, user, data_dir, tmp_path, monkeypatch
):
    saved = _backup(runner, tmp_path)

    def broken_upgrade(config, revision):
        raise RuntimeError("migration 0002 failed")

    monkeypatch.setattr(backup.command, "upgrade", broken_upgrade)
    result = runner.invoke(args=["restore", str(saved), "--force"])

    assert result.exit_code == 1
    replaced = list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert len(replaced) == 1
    assert "could not be brought up to date (migration 0002 failed)" in result.output
    assert f"the previous database is at {replaced[0]}" in result.output
