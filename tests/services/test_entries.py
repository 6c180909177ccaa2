"""Entry services: write, read, list, edit with versions, trash, restore, purge, render cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from daybook.errors import Conflict, NotFound, ValidationError
from daybook.extensions import db
from daybook.models import Entry, Tag, utcnow
from daybook.services import entries, markdown, search
from tests.databases import SEARCH_TABLE
from tests.factories import make_entry


def count_entries() -> int:
    return db.session.scalar(sa.select(sa.func.count(Entry.id)))


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


# -- create ----------------------------------------------------------------------------------


def test_create_entry_stores_rendered_html_counts_and_tags(app, user):
    before = utcnow()
    entry = entries.create_entry(
        user,
        title="  Shipped search  ",
        body="We shipped **FTS5** today.\r\nGreat.",
        tags="Work, #shipped work",
    )
    assert entry.id is not None
    assert entry.title == "Shipped search"
    assert entry.body == "We shipped **FTS5** today.\nGreat."
    assert "<strong>FTS5</strong>" in entry.body_html
    assert entry.render_version == markdown.RENDER_VERSION
    assert entry.word_count == 5
    assert entry.excerpt == "We shipped FTS5 today. Great."
    assert entry.tag_names == ["shipped", "work"]
    assert entry.version == 1
    assert entry.deleted_at is None
    assert before <= entry.occurred_at <= utcnow()
    assert entry.created_at == entry.updated_at == entry.occurred_at


def test_create_entry_can_be_backdated(app, user):
    when = datetime(2020, 2, 29, 8, 30, tzinfo=UTC)
    entry = entries.create_entry(user, title="Leap day", body="", occurred_at=when)
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).occurred_at == when


def test_create_entry_keeps_utc_for_other_zones(app, user):
    from zoneinfo import ZoneInfo

    local = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    entry = entries.create_entry(user, title="Paris", occurred_at=local)
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).occurred_at == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"title": ""}, "title"),
        ({"title": "   \t "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "bell\x07 and escape\x1b[31m"}, "title"),
        ({"title": "carriage\rreturn"}, "title"),
        ({"body": "nul\x00byte"}, "body"),
        ({"body": "a" * (1024 * 1024 + 1)}, "body"),
        ({"body": "é" * (512 * 1024 + 1)}, "body"),  # 1 MB is counted in bytes, not characters
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),  # noqa: DTZ001 - naive on purpose
        ({"occurred_at": datetime(1850, 1, 1, tzinfo=UTC)}, "occurred_at"),
        ({"occurred_at": datetime(9999, 6, 1, tzinfo=UTC)}, "occurred_at"),
        ({"tags": " ".join(f"t{i}" for i in range(51))}, "tags"),
        ({"tags": " ".join(f"t{i}" for i in range(10_000))}, "tags"),
        ({"tags": "ok c++"}, "tags"),
        ({"tags": "<script>"}, "tags"),
        ({"tags": "x" * 65}, "tags"),
    ],
)
def test_create_entry_rejects_bad_input_and_writes_nothing(app, user, fields, bad):
    data = {"title": "A title", "body": "text", "tags": "", **fields}
    with pytest.raises(ValidationError) as caught:
        entries.create_entry(user, **data)
    assert bad in caught.value.fields
    db.session.rollback()
    assert count_entries() == 0
    assert db.session.scalar(sa.select(sa.func.count(Tag.id))) == 0
    assert search.index_mismatches() == []


def test_create_entry_reports_every_bad_field_at_once(app, user):
    with pytest.raises(ValidationError) as caught:
        entries.create_entry(user, title="", body="\x00", tags="c++")
    assert set(caught.value.fields) == {"title", "body", "tags"}


def test_limits_themselves_are_accepted(app, user):
    entry = entries.create_entry(
        user,
        title="x" * 200,
        body="a" * (1024 * 1024),
        tags=[f"t{i}" for i in range(50)],
    )
    assert len(entry.title) == 200 and len(entry.tags) == 50


# -- read ------------------------------------------------------------------------------------


def test_get_entry_is_scoped_to_its_owner(app, user, other_user):
    entry = make_entry(user)
    assert entries.get_entry(user, entry.id).id == entry.id
    with pytest.raises(NotFound):
        entries.get_entry(other_user, entry.id)
    with pytest.raises(NotFound):
        entries.get_entry(user, 999_999)


def test_trashed_entry_is_found_only_in_the_trash(app, user):
    entry = make_entry(user)
    entries.trash_entry(user, entry.id)
    with pytest.raises(NotFound):
        entries.get_entry(user, entry.id)
    assert entries.get_entry(user, entry.id, trashed=True).id == entry.id


def test_rendered_html_is_cached_on_the_entry(app, user, monkeypatch):
    entry = make_entry(user, body="*cached*")
    calls = []
    monkeypatch.setattr(markdown, "render", lambda source: calls.append(source) or "fresh")
    db.session.expire_all()
    assert entries.get_entry(user, entry.id).body_html == "<p><em>cached</em></p>\n"
    assert calls == []


def test_rendered_html_is_rebuilt_when_the_renderer_changes(app, user, monkeypatch):
    entry = make_entry(user, body="*old* text&nbsp;here")
    db.session.execute(
        sa.update(Entry).values(body_html="<p>stale</p>", excerpt="stale", word_count=99)
    )
    db.session.execute(sa.text(f"UPDATE {SEARCH_TABLE} SET body = 'stale'"))
    db.session.commit()
    monkeypatch.setattr(markdown, "RENDER_VERSION", markdown.RENDER_VERSION + 1)
    assert entries.get_entry(user, entry.id).body_html == "<p><em>old</em> text&nbsp;here</p>\n"
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert stored.body_html == "<p><em>old</em> text&nbsp;here</p>\n"
    assert stored.render_version == markdown.RENDER_VERSION
    assert (stored.excerpt, stored.word_count) == ("old text here", 3)
    assert [h.entry.id for h in search.search_entries(user, "here").hits] == [entry.id]
    assert search.index_mismatches() == []


def test_the_entry_page_shows_the_saved_entry_and_rerenders_a_stale_one(app, user, monkeypatch):
    entry = make_entry(user, title="Shown", body="*old* text", tags="b a")
    shown = entries.show_entry(user, entry.id)
    assert (shown.title, shown.body, shown.tag_names) == ("Shown", "*old* text", ("a", "b"))
    assert shown.body_html == "<p><em>old</em> text</p>\n"

    db.session.execute(sa.update(Entry).values(body_html="<p>stale</p>"))
    db.session.commit()
    monkeypatch.setattr(markdown, "RENDER_VERSION", markdown.RENDER_VERSION + 1)
    assert entries.show_entry(user, entry.id).body_html == "<p><em>old</em> text</p>\n"
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).render_version == markdown.RENDER_VERSION


def test_the_entry_page_is_only_for_the_owner_and_live_entries(app, user, other_user):
    entry = make_entry(user, title="Mine")
    with pytest.raises(NotFound):
        entries.show_entry(other_user, entry.id)
    with pytest.raises(NotFound):
        entries.show_entry(user, 2**40)
    entries.trash_entry(user, entry.id)
    with pytest.raises(NotFound):
        entries.show_entry(user, entry.id)


def test_a_trashed_entry_rerendered_stays_out_of_the_index(app, user, monkeypatch):
    entry = make_entry(user, body="*old*")
    entries.trash_entry(user, entry.id)
    monkeypatch.setattr(markdown, "RENDER_VERSION", markdown.RENDER_VERSION + 1)
    assert entries.get_entry(user, entry.id, trashed=True).render_version == markdown.RENDER_VERSION
    assert search.index_mismatches() == []


# -- update ----------------------------------------------------------------------------------


def test_update_entry_saves_and_bumps_the_version(app, user):
    entry = make_entry(user, title="Draft", body="one", tags="a b")
    created = entry.updated_at
    updated = entries.update_entry(
        user,
        entry.id,
        expected_version=1,
        title="Final",
        body="one **two**",
        tags="b c",
        occurred_at=at(3),
    )
    assert updated.version == 2
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert (stored.title, stored.body, stored.tag_names) == ("Final", "one **two**", ["b", "c"])
    assert "<strong>two</strong>" in stored.body_html
    assert stored.word_count == 2
    assert stored.occurred_at == at(3)
    assert stored.updated_at >= created
    assert stored.created_at == created


def test_update_without_a_date_keeps_the_date(app, user):
    entry = make_entry(user, occurred_at=at(1))
    entries.update_entry(user, entry.id, expected_version=1, title="t", body="b", tags="")
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).occurred_at == at(1)


def test_stale_update_raises_conflict_and_overwrites_nothing(app, user):
    entry = make_entry(user, title="Original", body="first")
    entries.update_entry(user, entry.id, expected_version=1, title="Tab A", body="from A", tags="")
    with pytest.raises(Conflict) as caught:
        entries.update_entry(
            user, entry.id, expected_version=1, title="Tab B", body="from B", tags="b"
        )
    assert caught.value.current.title == "Tab A"
    assert caught.value.current.version == 2
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert (stored.title, stored.body, stored.version, stored.tag_names) == (
        "Tab A",
        "from A",
        2,
        [],
    )
    assert search.search_entries(user, "from").hits[0].entry.title == "Tab A"
    assert search.search_entries(user, "b").hits == []


def test_two_saves_racing_from_the_same_version_cannot_both_win(app, user):
    entry = make_entry(user)
    results = []
    for title in ("first", "second"):
        try:
            entries.update_entry(user, entry.id, expected_version=1, title=title, body="", tags="")
            results.append(title)
        except Conflict:
            results.append("conflict")
    assert results == ["first", "conflict"]
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).title == "first"


def test_update_without_a_version_is_a_conflict(app, user):
    entry = make_entry(user)
    with pytest.raises(Conflict):
        entries.update_entry(user, entry.id, expected_version=None, title="t", body="", tags="")


def test_update_with_bad_input_changes_nothing(app, user):
    entry = make_entry(user, title="Keep", body="kept", tags="old")
    with pytest.raises(ValidationError) as caught:
        entries.update_entry(user, entry.id, expected_version=1, title="", body="x", tags="c++")
    assert set(caught.value.fields) == {"title", "tags"}
    db.session.rollback()
    stored = db.session.get(Entry, entry.id)
    assert (stored.title, stored.body, stored.version, stored.tag_names) == (
        "Keep",
        "kept",
        1,
        ["old"],
    )


def test_update_of_someone_elses_or_a_trashed_entry_is_not_found(app, user, other_user):
    entry = make_entry(user)
    with pytest.raises(NotFound):
        entries.update_entry(other_user, entry.id, expected_version=1, title="x", body="", tags="")
    entries.trash_entry(user, entry.id)
    with pytest.raises(NotFound):
        entries.update_entry(user, entry.id, expected_version=2, title="x", body="", tags="")


# -- list ------------------------------------------------------------------------------------


def test_list_is_newest_first_by_occurred_at_twenty_a_page(app, user, other_user):
    for day in range(45):
        make_entry(user, title=f"day {day}", occurred_at=at(day))
    make_entry(other_user, title="not mine", occurred_at=at(100))
    first = entries.list_entries(user)
    assert [e.title for e in first.items] == [f"day {d}" for d in range(44, 24, -1)]
    assert first.has_next and not first.has_prev
    second = entries.list_entries(user, page=2)
    assert [e.title for e in second.items] == [f"day {d}" for d in range(24, 4, -1)]
    assert second.has_next and second.has_prev
    third = entries.list_entries(user, page=3)
    assert [e.title for e in third.items] == [f"day {d}" for d in range(4, -1, -1)]
    assert not third.has_next
    assert entries.list_entries(user, page=4).items == []
    assert entries.list_entries(user, page=-3).page == 1


def test_list_ties_on_the_same_moment_by_newest_id(app, user):
    first = make_entry(user, title="first", occurred_at=at(0))
    second = make_entry(user, title="second", occurred_at=at(0))
    assert [e.id for e in entries.list_entries(user).items] == [second.id, first.id]


def test_list_filters_by_tag_and_leaves_out_the_trash(app, user, other_user):
    keep = make_entry(user, title="keep", tags="work")
    make_entry(user, title="other", tags="home")
    gone = make_entry(user, title="gone", tags="work")
    make_entry(other_user, title="theirs", tags="work")
    entries.trash_entry(user, gone.id)
    assert [e.id for e in entries.list_entries(user, tag="work").items] == [keep.id]
    assert [e.id for e in entries.list_entries(user, tag=" #WORK ").items] == [keep.id]
    assert entries.list_entries(user, tag="nosuch").items == []
    assert {e.title for e in entries.list_entries(user).items} == {"keep", "other"}


# -- trash, restore, purge -------------------------------------------------------------------


def test_trash_restore_purge(app, user):
    entry = make_entry(user, title="Round trip", body="unique-word-zebra", tags="t")
    entries.trash_entry(user, entry.id)
    assert entries.list_entries(user).items == []
    assert [e.id for e in entries.list_trash(user).items] == [entry.id]
    assert search.search_entries(user, "zebra").hits == []
    assert search.index_mismatches() == []

    restored = entries.restore_entry(user, entry.id)
    assert restored.deleted_at is None
    assert [h.entry.id for h in search.search_entries(user, "zebra").hits] == [entry.id]
    assert entries.list_trash(user).items == []
    assert search.index_mismatches() == []

    entries.trash_entry(user, entry.id)
    entries.purge_entry(user, entry.id)
    db.session.expire_all()
    assert db.session.get(Entry, entry.id) is None
    assert search.index_mismatches() == []
    assert db.session.scalar(sa.text("SELECT count(*) FROM entry_tag")) == 0


def test_restore_and_purge_need_a_trashed_entry_of_ones_own(app, user, other_user):
    live = make_entry(user)
    with pytest.raises(NotFound):
        entries.restore_entry(user, live.id)
    with pytest.raises(NotFound):
        entries.purge_entry(user, live.id)
    entries.trash_entry(user, live.id)
    with pytest.raises(NotFound):
        entries.restore_entry(other_user, live.id)
    with pytest.raises(NotFound):
        entries.purge_entry(other_user, live.id)
    with pytest.raises(NotFound):
        entries.trash_entry(user, live.id)
    assert db.session.get(Entry, live.id).deleted_at is not None


def test_trash_is_listed_most_recently_deleted_first(app, user):
    a, b = make_entry(user, title="a"), make_entry(user, title="b")
    entries.trash_entry(user, b.id)
    entries.trash_entry(user, a.id)
    assert [e.title for e in entries.list_trash(user).items] == ["a", "b"]


def test_purge_expired_trash_removes_only_old_trash(app, user, other_user):
    now = utcnow()
    old = make_entry(user, title="old")
    old_other = make_entry(other_user, title="old other")
    recent = make_entry(user, title="recent")
    live = make_entry(user, title="live")
    for entry in (old, old_other, recent):
        entries.trash_entry(entry.user_id == user.id and user or other_user, entry.id)
    ids = {"old": old.id, "old_other": old_other.id, "recent": recent.id, "live": live.id}
    db.session.execute(
        sa.update(Entry)
        .where(Entry.id.in_([ids["old"], ids["old_other"]]))
        .values(deleted_at=now - timedelta(days=30, minutes=1))
    )
    db.session.execute(
        sa.update(Entry)
        .where(Entry.id == ids["recent"])
        .values(deleted_at=now - timedelta(days=29, hours=23))
    )
    db.session.commit()

    assert entries.purge_expired_trash(30, now=now) == 2
    db.session.expire_all()
    remaining = set(db.session.scalars(sa.select(Entry.id)))
    assert remaining == {ids["recent"], ids["live"]}
    assert search.index_mismatches() == []
    assert entries.purge_expired_trash(30, now=now) == 0
