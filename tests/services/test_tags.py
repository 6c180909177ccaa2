"""Tag services: parsing what people type, counts, rename, merge and delete, with search in step."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.models import Entry, Tag
from daybook.services import entries, search, tags
from tests.factories import make_entry


def tag_hits(user, name: str) -> list[str]:
    """Titles of the user's entries found by searching for the tag name."""
    return sorted(h.entry.title for h in search.search_entries(user, name).hits)


def tagged(user, name: str) -> list[str]:
    return sorted(e.title for e in entries.list_entries(user, tag=name).items)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Work, shipped", ["work", "shipped"]),
        ("work shipped\t1on1\nmeetings", ["work", "shipped", "1on1", "meetings"]),
        ("#Work ##deep-dive", ["work", "deep-dive"]),
        ("work, WORK, #work,,  work", ["work"]),
        ("  ,, # ,  ", []),
        ("", []),
        (None, []),
        ("project/daybook v1.2 snake_case", ["project/daybook", "v1.2", "snake_case"]),
        ("Café Ünïcode", ["café", "ünïcode"]),
        (["Alpha", "#beta", "alpha", ""], ["alpha", "beta"]),
    ],
)
def test_parse_tags_normalises(raw, expected):
    assert tags.parse_tags(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "c++",
        "<b>",
        "a;b",
        "-leading",
        ".hidden",
        "/root",
        "x" * 65,
        'quote"d',
        "emoji🙂",
        "a/../b",
        "a//b",
        "trailing/",
    ],
)
def test_parse_tags_rejects_names_that_are_not_tags(raw):
    with pytest.raises(ValidationError) as caught:
        tags.parse_tags(raw)
    assert set(caught.value.fields) == {"tags"}


def test_parse_tags_rejects_non_text():
    with pytest.raises(ValidationError):
        tags.parse_tags(["ok", 3])  # type: ignore[list-item]


def test_parse_tags_allows_fifty_and_refuses_fifty_one():
    assert len(tags.parse_tags(" ".join(f"t{i}" for i in range(50)))) == 50
    with pytest.raises(ValidationError) as caught:
        tags.parse_tags(" ".join(f"t{i}" for i in range(51)))
    assert "50" in caught.value.fields["tags"]


def test_parse_tags_refuses_a_huge_input_quickly():
    raw = ",".join(f"tag{i}" for i in range(10_000))
    started = time.perf_counter()
    with pytest.raises(ValidationError):
        tags.parse_tags(raw)
    assert time.perf_counter() - started < 0.5


def test_repeated_tags_do_not_count_towards_the_limit():
    assert tags.parse_tags(" ".join(["same"] * 500)) == ["same"]


# -- tags per user ---------------------------------------------------------------------------


def test_tags_belong_to_each_user(app, user, other_user):
    make_entry(user, tags="work")
    make_entry(other_user, tags="work")
    rows = db.session.execute(sa.select(Tag.user_id, Tag.name).order_by(Tag.user_id)).all()
    assert [tuple(r) for r in rows] == [(user.id, "work"), (other_user.id, "work")]
    with pytest.raises(NotFound):
        tags.get_tag(other_user, "nosuch")


def test_list_tags_counts_live_entries_only(app, user, other_user):
    make_entry(user, tags="work shipped")
    make_entry(user, tags="work")
    trashed = make_entry(user, tags="work old")
    make_entry(other_user, tags="work secret")
    entries.trash_entry(user, trashed.id)
    assert tags.list_tags(user) == [("old", 0), ("shipped", 1), ("work", 2)]
    assert tags.list_tags(other_user) == [("secret", 1), ("work", 1)]


# -- rename, merge, delete -------------------------------------------------------------------


def test_rename_tag_moves_entries_and_search(app, user):
    make_entry(user, title="one", tags="wrk")
    make_entry(user, title="two", tags="wrk other")
    assert tags.rename_tag(user, "wrk", "#Work") == "work"
    assert tags.list_tags(user) == [("other", 1), ("work", 2)]
    assert tagged(user, "work") == ["one", "two"]
    assert tagged(user, "wrk") == []
    assert tag_hits(user, "work") == ["one", "two"]
    assert tag_hits(user, "wrk") == []
    assert search.index_mismatches() == []


def test_rename_onto_an_existing_tag_merges(app, user):
    make_entry(user, title="only old", tags="meeting")
    make_entry(user, title="both", tags="meeting meetings")
    make_entry(user, title="only new", tags="meetings")
    assert tags.rename_tag(user, "meeting", "meetings") == "meetings"
    assert tags.list_tags(user) == [("meetings", 3)]
    assert tagged(user, "meetings") == ["both", "only new", "only old"]
    both = db.session.scalar(sa.select(Entry).where(Entry.title == "both"))
    assert both.tag_names == ["meetings"]
    assert tag_hits(user, "meetings") == ["both", "only new", "only old"]
    assert tag_hits(user, "meeting") == ["both", "only new", "only old"]  # porter stemming
    assert search.search_entries(user, '"meeting meetings"').hits == []
    assert search.index_mismatches() == []


def test_rename_to_the_same_name_changes_nothing(app, user):
    make_entry(user, tags="same")
    assert tags.rename_tag(user, "same", "SAME") == "same"
    assert tags.list_tags(user) == [("same", 1)]


def test_rename_validates_the_new_name(app, user):
    make_entry(user, tags="good")
    with pytest.raises(ValidationError) as caught:
        tags.rename_tag(user, "good", "not good!")
    assert set(caught.value.fields) == {"new_name"}
    with pytest.raises(ValidationError):
        tags.rename_tag(user, "good", "")
    db.session.rollback()
    assert tags.list_tags(user) == [("good", 1)]


def test_rename_and_delete_of_someone_elses_tag_is_not_found(app, user, other_user):
    make_entry(user, title="mine", tags="private")
    with pytest.raises(NotFound):
        tags.rename_tag(other_user, "private", "stolen")
    with pytest.raises(NotFound):
        tags.delete_tag(other_user, "private")
    assert tags.list_tags(user) == [("private", 1)]
    assert tags.list_tags(other_user) == []


def test_rename_of_a_tag_on_a_trashed_entry_keeps_it_out_of_search(app, user):
    entry = make_entry(user, title="gone", tags="old")
    entries.trash_entry(user, entry.id)
    tags.rename_tag(user, "old", "new")
    assert search.index_mismatches() == []
    entries.restore_entry(user, entry.id)
    assert tag_hits(user, "new") == ["gone"]
    assert search.index_mismatches() == []


def test_delete_tag_keeps_the_entries(app, user):
    make_entry(user, title="one", tags="drop keep")
    make_entry(user, title="two", tags="drop")
    tags.delete_tag(user, "drop")
    assert tags.list_tags(user) == [("keep", 1)]
    assert sorted(e.title for e in entries.list_entries(user).items) == ["one", "two"]
    assert tag_hits(user, "drop") == []
    assert tag_hits(user, "keep") == ["one"]
    assert search.index_mismatches() == []
    with pytest.raises(NotFound):
        tags.get_tag(user, "drop")
