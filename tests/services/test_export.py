"""Export to JSON and Markdown, import from JSON: shapes, validation, round trips."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybook.errors import ValidationError
from daybook.extensions import db
from daybook.models import Entry, Tag
from daybook.services import entries, export, search
from tests.factories import make_entry, make_user

MOMENT = datetime(2026, 11, 22, 19, 55, 0, 123456, tzinfo=UTC)


def _json(user) -> dict:
    out = io.StringIO()
    export.export_json(user, out)
    return json.loads(out.getvalue())


def _records(user) -> list[dict]:
    return _json(user)["entries"]


def _document(**entry: object) -> str:
    return json.dumps({"format": "daybook-export", "version": 1, "entries": [entry]})


def _count(user) -> int:
    return db.session.scalar(sa.select(sa.func.count(Entry.id)).where(Entry.user_id == user.id))


def test_json_export_has_the_documented_shape(user):
    entry = make_entry(
        user, title="Standup", body="Did *things*.", tags="work, team", occurred_at=MOMENT
    )
    trashed = make_entry(user, title="Old", body="", occurred_at=MOMENT - timedelta(days=1))
    entries.trash_entry(user, trashed.id)

    data = _json(user)

    assert list(data) == ["format", "version", "exported_at", "user", "entries"]
    assert data["format"] == "daybook-export"
    assert data["version"] == 1
    assert data["exported_at"].endswith("Z")
    assert data["user"] == {"username": "alice", "email": "alice@example.com", "timezone": "UTC"}
    old, standup = data["entries"]
    assert standup == {
        "title": "Standup",
        "body": "Did *things*.",
        "tags": ["team", "work"],
        "occurred_at": "2026-11-22T19:55:00.123456Z",
        "created_at": export.rfc3339(entry.created_at),
        "updated_at": export.rfc3339(entry.updated_at),
        "deleted_at": None,
        "version": 1,
    }
    assert old["title"] == "Old"
    assert old["deleted_at"].endswith("Z")
    assert old["version"] == 2


def test_json_export_of_an_empty_journal(user):
    assert _json(user)["entries"] == []


def test_export_holds_only_the_users_own_entries(user, other_user):
    make_entry(user, title="Mine")
    make_entry(other_user, title="Theirs")
    assert [r["title"] for r in _records(user)] == ["Mine"]


def test_round_trip_into_a_fresh_user_loses_nothing(user, other_user):
    make_entry(user, title="Plain", body="walrus\n\n- a\n- b\n", tags="zoo sea", occurred_at=MOMENT)
    make_entry(
        user,
        title="Ünïcode “quotes” — 日本語 🦭",
        body="emoji 🦭 and\ttabs",
        occurred_at=MOMENT - timedelta(days=400),
    )
    trashed = make_entry(user, title="Binned", body="walrus too", tags="zoo")
    entries.trash_entry(user, trashed.id)
    edited = make_entry(user, title="Draft", body="v1")
    entries.update_entry(user, edited.id, expected_version=1, title="Final", body="v2", tags="done")
    raw = io.StringIO()
    export.export_json(user, raw)

    result = export.import_json(other_user, raw.getvalue())

    assert (result.created, result.skipped) == (4, 0)
    assert _records(other_user) == _records(user)
    hits = search.search_entries(other_user, "walrus").hits
    assert [h.entry.title for h in hits] == ["Plain"]
    assert search.index_mismatches() == []
    assert [e.title for e in entries.list_trash(other_user).items] == ["Binned"]
    imported = [
        entries.get_entry(other_user, c.id)
        for c in entries.list_entries(other_user, tag="zoo").items
    ]
    original = [entries.get_entry(user, c.id) for c in entries.list_entries(user, tag="zoo").items]
    assert [e.title for e in imported] == ["Plain"]
    assert (imported[0].body_html, imported[0].word_count, imported[0].excerpt) == (
        original[0].body_html,
        original[0].word_count,
        original[0].excerpt,
    )


def test_import_twice_adds_nothing_the_second_time(user, other_user):
    make_entry(user, title="One", body="a", occurred_at=MOMENT)
    make_entry(user, title="Two", body="b", occurred_at=MOMENT)
    raw = io.StringIO()
    export.export_json(user, raw)

    first = export.import_json(other_user, raw.getvalue())
    second = export.import_json(other_user, raw.getvalue())
    into_self = export.import_json(user, raw.getvalue())

    assert (first.created, first.skipped) == (2, 0)
    assert (second.created, second.skipped) == (0, 2)
    assert (into_self.created, into_self.skipped) == (0, 2)
    assert _count(other_user) == 2


def test_import_skips_only_entries_identical_in_title_time_and_body(user):
    make_entry(user, title="Same", body="text", occurred_at=MOMENT)
    when = "2026-11-22T19:55:00.123456Z"
    doc = json.dumps(
        {
            "format": "daybook-export",
            "version": 1,
            "entries": [
                {"title": "Same", "body": "text", "occurred_at": when},
                {
                    "title": "Same",
                    "body": "text",
                    "occurred_at": "2026-11-22T20:55:00.123456+01:00",
                },
                {"title": "Same", "body": "other text", "occurred_at": when},
                {"title": "Same", "body": "text", "occurred_at": "2026-11-22T19:55:01Z"},
                {"title": "Different", "body": "text", "occurred_at": when},
            ],
        }
    )

    result = export.import_json(user, doc)

    assert (result.created, result.skipped) == (3, 2)


def test_import_fills_in_optional_fields(user):
    result = export.import_json(user, _document(title="Bare", occurred_at="2020-02-02T02:02:02Z"))
    assert result.created == 1
    entry = entries.get_entry(user, entries.list_entries(user).items[0].id)
    assert (entry.title, entry.body, entry.tag_names, entry.version) == ("Bare", "", [], 1)
    assert entry.occurred_at == datetime(2020, 2, 2, 2, 2, 2, tzinfo=UTC)
    assert entry.updated_at == entry.created_at
    assert entry.deleted_at is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe not utf-8", "file"),
        ("{not json", "file"),
        ("[]", "format"),
        (json.dumps({"format": "something-else", "version": 1, "entries": []}), "format"),
        (json.dumps({"format": "daybook-export", "version": 2, "entries": []}), "version"),
        (json.dumps({"format": "daybook-export", "entries": []}), "version"),
        (json.dumps({"format": "daybook-export", "version": 1, "entries": {}}), "entries"),
        (json.dumps({"format": "daybook-export", "version": 1, "entries": ["x"]}), "entries[0]"),
        (_document(occurred_at="2020-01-01T00:00:00Z"), "entries[0].title"),
        (_document(title="", occurred_at="2020-01-01T00:00:00Z"), "entries[0].title"),
        (_document(title="x" * 201, occurred_at="2020-01-01T00:00:00Z"), "entries[0].title"),
        (_document(title="two\nlines", occurred_at="2020-01-01T00:00:00Z"), "entries[0].title"),
        (_document(title=5, occurred_at="2020-01-01T00:00:00Z"), "entries[0].title"),
        (_document(title="t", body=["x"], occurred_at="2020-01-01T00:00:00Z"), "entries[0].body"),
        (
            _document(title="t", body="a\x00b", occurred_at="2020-01-01T00:00:00Z"),
            "entries[0].body",
        ),
        (
            _document(title="t", body="x" * (1024 * 1024 + 1), occurred_at="2020-01-01T00:00:00Z"),
            "entries[0].body",
        ),
        (_document(title="t"), "entries[0].occurred_at"),
        (_document(title="t", occurred_at="2020-01-01"), "entries[0].occurred_at"),
        (_document(title="t", occurred_at="yesterday"), "entries[0].occurred_at"),
        (_document(title="t", occurred_at=1700000000), "entries[0].occurred_at"),
        (_document(title="t", occurred_at="1800-01-01T00:00:00Z"), "entries[0].occurred_at"),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", created_at="soon"),
            "entries[0].created_at",
        ),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", updated_at=[]),
            "entries[0].updated_at",
        ),
        (
            _document(
                title="t", occurred_at="2020-01-01T00:00:00Z", deleted_at="2020-13-01T00:00Z"
            ),
            "entries[0].deleted_at",
        ),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", tags={"a": 1}),
            "entries[0].tags",
        ),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", tags=["ok", 3]),
            "entries[0].tags",
        ),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", tags=["<script>"]),
            "entries[0].tags",
        ),
        (_document(title="t", occurred_at="2020-01-01T00:00:00Z", version=0), "entries[0].version"),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", version="2"),
            "entries[0].version",
        ),
        (
            _document(title="t", occurred_at="2020-01-01T00:00:00Z", version=True),
            "entries[0].version",
        ),
    ],
)
def test_import_refuses_bad_input_and_writes_nothing(user, raw, field):
    with pytest.raises(ValidationError) as caught:
        export.import_json(user, raw)
    assert field in caught.value.fields
    db.session.rollback()
    assert _count(user) == 0
    assert db.session.scalar(sa.select(sa.func.count(Tag.id))) == 0


def test_import_is_all_or_nothing_when_one_entry_is_bad(user):
    good = {"title": "Good", "occurred_at": "2020-01-01T00:00:00Z", "tags": ["kept"]}
    doc = json.dumps(
        {
            "format": "daybook-export",
            "version": 1,
            "entries": [
                good,
                good,
                {"title": "", "occurred_at": "2020-01-01T00:00:00Z"},
                good,
            ],
        }
    )
    with pytest.raises(ValidationError) as caught:
        export.import_json(user, doc)
    assert list(caught.value.fields) == ["entries[2].title"]
    assert _count(user) == 0


def test_import_rolls_back_when_a_write_fails_midway(user, monkeypatch):
    doc = json.dumps(
        {
            "format": "daybook-export",
            "version": 1,
            "entries": [
                {"title": f"E{n}", "occurred_at": "2020-01-01T00:00:00Z", "tags": ["t"]}
                for n in range(3)
            ],
        }
    )
    real_apply = entries.apply_fields
    calls = []

    def failing_apply(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(entries, "apply_fields", failing_apply)
    with pytest.raises(RuntimeError):
        export.import_json(user, doc)
    assert _count(user) == 0
    assert db.session.scalar(sa.select(sa.func.count(Tag.id))) == 0
    assert search.index_mismatches() == []


def test_import_reports_many_problems_at_once_up_to_a_limit(user):
    doc = json.dumps(
        {"format": "daybook-export", "version": 1, "entries": [{"title": ""} for _ in range(50)]}
    )
    with pytest.raises(ValidationError) as caught:
        export.import_json(user, doc)
    assert len(caught.value.fields) == export.MAX_ERRORS


# -- Markdown --------------------------------------------------------------------------------


def _front_matter(document: str) -> tuple[dict, str]:
    assert document.startswith("---\n")
    head, body = document[4:].split("\n---\n\n", 1)
    fields = {}
    for line in head.split("\n"):
        key, value = line.split(": ", 1)
        fields[key] = json.loads(value)
    return fields, body


@pytest.mark.parametrize(
    "title",
    [
        'He said "no": fine',
        "--- a: b #c",
        "tab\there",
        "nel\x85line",
        "ls\u2028ps\u2029 end",
        "back\\slash",
        "emoji 🦭",
        "'single' & {braces} [x] *y*",
        "null",
        "yes",
    ],
)
def test_markdown_front_matter_is_json_quoted_yaml(user, title):
    entry = make_entry(user, title=title, body="Body *text*", tags="a b", occurred_at=MOMENT)

    document = export.markdown_document(entry)

    fields, body = _front_matter(document)
    assert fields == {
        "title": title,
        "date": "2026-11-22T19:55:00.123456+00:00",
        "tags": ["a", "b"],
        "created": export.rfc3339(entry.created_at),
        "updated": export.rfc3339(entry.updated_at),
    }
    assert body == "Body *text*\n"
    # Characters YAML does not take raw inside quotes, or reads as line breaks, are escaped.
    head = document.split("\n---\n", 1)[0]
    assert not any(ch in head for ch in "\x7f\x85\u2028\u2029\t")


def test_yaml_values_escape_what_yaml_will_not_take_raw():
    text = 'a\x7fb\x85c\x9fd\u2028e\u2029f\ufeffg\uffffh\t\n"\\ 🦭'
    quoted = export.yaml_value(text)
    assert quoted == ('"a\\u007fb\\u0085c\\u009fd\\u2028e\\u2029f\\ufeffg\\uffffh\\t\\n\\"\\\\ 🦭"')
    assert json.loads(quoted) == text
    assert json.loads(export.yaml_value(["x\u2028", "y"])) == ["x\u2028", "y"]


def test_markdown_export_zips_one_file_per_entry_with_unique_names(user):
    for _ in range(3):
        make_entry(user, title="Weekly review", body="same name", occurred_at=MOMENT)
    make_entry(user, title="日本語", body="no ascii", occurred_at=MOMENT)
    make_entry(user, title="Ancient", occurred_at=datetime(1901, 5, 6, tzinfo=UTC))
    binned = make_entry(user, title="Binned", occurred_at=MOMENT)
    entries.trash_entry(user, binned.id)
    out = io.BytesIO()

    count = export.export_markdown(user, out)

    archive = zipfile.ZipFile(out)
    assert count == 6
    assert sorted(archive.namelist()) == [
        "1901-05-06-ancient.md",
        "2026-11-22-entry.md",
        "2026-11-22-weekly-review-2.md",
        "2026-11-22-weekly-review-3.md",
        "2026-11-22-weekly-review.md",
        "trash/2026-11-22-binned.md",
    ]
    assert archive.testzip() is None
    fields, _ = _front_matter(archive.read("trash/2026-11-22-binned.md").decode())
    assert fields["deleted"].endswith("Z")


def test_markdown_file_dates_follow_the_users_time_zone(user):
    user.timezone = "America/New_York"
    db.session.commit()
    make_entry(user, title="Late", occurred_at=datetime(2026, 11, 23, 3, 30, tzinfo=UTC))
    out = io.BytesIO()
    export.export_markdown(user, out)
    archive = zipfile.ZipFile(out)
    assert archive.namelist() == ["2026-11-22-late.md"]
    fields, _ = _front_matter(archive.read("2026-11-22-late.md").decode())
    assert fields["date"] == "2026-11-22T22:30:00-05:00"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("Crème brûlée", "creme-brulee"),
        ("日本語", "entry"),
        ("  --  ", "entry"),
        ("a" * 100, "a" * 60),
        ("../../etc/passwd", "etc-passwd"),
    ],
)
def test_slugify(title, slug):
    assert export.slugify(title) == slug


# -- property --------------------------------------------------------------------------------

_titles = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80)
    .map(str.strip)
    .filter(bool)
)
_bodies = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)
_tags = st.lists(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,15}", fullmatch=True), max_size=4)
_moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
)
_entries = st.lists(st.tuples(_titles, _bodies, _tags, _moments, st.booleans()), max_size=5)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=_entries)
def test_export_then_import_preserves_every_entry(app, generated):
    source, target = make_user(), make_user()
    for title, body, tags, moment, trashed in generated:
        entry = entries.create_entry(source, title=title, body=body, tags=tags, occurred_at=moment)
        if trashed:
            entries.trash_entry(source, entry.id)
    raw = io.StringIO()
    export.export_json(source, raw)

    result = export.import_json(target, raw.getvalue())

    assert result.created == len(generated)
    assert _records(target) == _records(source)
    assert search.index_mismatches() == []
    again = export.import_json(target, raw.getvalue())
    assert (again.created, again.skipped) == (0, len(generated))
