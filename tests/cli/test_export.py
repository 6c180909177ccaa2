"""`daybook export` and `daybook import` on the command line."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry
from daybook.services import entries, search
from tests.factories import make_entry


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _printed_path(result) -> Path:
    return Path(result.stdout.strip().rsplit(" to ", 1)[1])


def _count(user) -> int:
    return db.session.scalar(sa.select(sa.func.count(Entry.id)).where(Entry.user_id == user.id))


def test_export_json_to_the_default_file_here(runner, user, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_entry(user, title="Hello", body="world", tags="greeting")

    result = runner.invoke(args=["export", "--user", "alice"])

    assert result.exit_code == 0, result.output
    path = _printed_path(result)
    assert path.parent == tmp_path
    assert path.name.startswith("daybook-alice-") and path.suffix == ".json"
    assert result.stdout.startswith("Exported 1 entry to ")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "daybook-export"
    assert [(e["title"], e["body"], e["tags"]) for e in data["entries"]] == [
        ("Hello", "world", ["greeting"])
    ]
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_default_names_do_not_collide(runner, user, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = set()
    for _ in range(3):
        result = runner.invoke(args=["export", "--user", "alice"])
        assert result.exit_code == 0, result.output
        paths.add(_printed_path(result))
    assert len(paths) == 3


def test_export_markdown_to_a_named_file(runner, user, tmp_path):
    make_entry(
        user,
        title="Retro notes",
        body="# Went well\n",
        tags="work",
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )
    output = tmp_path / "journal.zip"

    result = runner.invoke(
        args=["export", "--user", "alice", "--format", "markdown", "--output", str(output)]
    )

    assert result.exit_code == 0, result.output
    assert _printed_path(result) == output
    archive = zipfile.ZipFile(output)
    assert archive.namelist() == ["2026-11-20-retro-notes.md"]
    text = archive.read("2026-11-20-retro-notes.md").decode()
    assert text.startswith('---\ntitle: "Retro notes"\ndate: "2026-11-20T09:00:00+00:00"\n')
    assert text.endswith("---\n\n# Went well\n")


def test_export_unknown_user_fails(runner, tmp_path):
    result = runner.invoke(args=["export", "--user", "nobody", "--output", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "No user named 'nobody'" in result.output
    assert not (tmp_path / "x").exists()


def test_export_fails_clearly_when_it_cannot_write(runner, user, tmp_path):
    target = tmp_path / "missing-dir" / "out.json"
    result = runner.invoke(args=["export", "--user", "alice", "--output", str(target)])
    assert result.exit_code == 1
    assert "Cannot write" in result.output
    assert "Traceback" not in result.output


def test_export_import_round_trip_on_the_command_line(runner, user, other_user, tmp_path):
    make_entry(user, title="Kept", body="otter facts", tags="animals")
    binned = make_entry(user, title="Binned", body="otter too")
    entries.trash_entry(user, binned.id)
    exported = tmp_path / "alice.json"
    result = runner.invoke(args=["export", "--user", "alice", "--output", str(exported)])
    assert result.exit_code == 0, result.output

    first = runner.invoke(args=["import", str(exported), "--user", "bob"])
    second = runner.invoke(args=["import", str(exported), "--user", "bob"])

    assert first.exit_code == 0, first.output
    assert "Imported 2 entries into bob's journal; skipped 0 already there." in first.output
    assert second.exit_code == 0, second.output
    assert "Imported 0 entries into bob's journal; skipped 2 already there." in second.output
    again = tmp_path / "bob.json"
    result = runner.invoke(args=["export", "--user", "bob", "--output", str(again)])
    assert result.exit_code == 0, result.output
    assert json.loads(again.read_text())["entries"] == json.loads(exported.read_text())["entries"]
    assert [h.entry.title for h in search.search_entries(other_user, "otter").hits] == ["Kept"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01 binary", "file: is not valid JSON"),
        (b'{"format": "daybook-export"', "file: is not valid JSON"),
        (b'{"format": "other", "version": 1, "entries": []}', "format: is not a Daybook export"),
        (b'{"format": "daybook-export", "version": 9, "entries": []}', "version: 9 is not"),
        (
            b'{"format": "daybook-export", "version": 1, "entries": ['
            b'{"title": "ok", "occurred_at": "2020-01-01T00:00:00Z"},'
            b'{"title": "", "occurred_at": "2020-01-01T00:00:00Z"}]}',
            "entries[1].title",
        ),
    ],
)
def test_import_refuses_a_bad_file_and_writes_nothing(runner, user, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)

    result = runner.invoke(args=["import", str(path), "--user", "alice"])

    assert result.exit_code == 1
    assert "was not imported; nothing was written" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    db.session.rollback()
    assert _count(user) == 0


def test_import_lists_at_most_ten_problems(runner, user, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "format": "daybook-export",
                "version": 1,
                "entries": [{"title": "t"} for _ in range(15)],
            }
        )
    )
    result = runner.invoke(args=["import", str(path), "--user", "alice"])
    assert result.exit_code == 1
    assert result.output.count("occurred_at: is required.") == 10
    assert "… and 5 more" in result.output


def test_import_needs_an_existing_file_and_user(runner, user, tmp_path):
    result = runner.invoke(args=["import", str(tmp_path / "none.json"), "--user", "alice"])
    assert result.exit_code == 2
    assert "does not exist" in result.output

    path = tmp_path / "empty.json"
    path.write_text('{"format": "daybook-export", "version": 1, "entries": []}')
    result = runner.invoke(args=["import", str(path), "--user", "nobody"])
    assert result.exit_code == 1
    assert "No user named 'nobody'" in result.output


def test_import_and_restore_do_not_leave_write_intent_set(runner, user, tmp_path):
    from daybook.database import write_intent

    path = tmp_path / "empty.json"
    path.write_text('{"format": "daybook-export", "version": 1, "entries": []}')
    assert runner.invoke(args=["import", str(path), "--user", "alice"]).exit_code == 0
    assert runner.invoke(args=["restore", str(tmp_path / "none"), "--force"]).exit_code == 1
    assert write_intent.get() is False
