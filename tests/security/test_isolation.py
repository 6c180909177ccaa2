"""Two users cannot see, edit, delete, restore, purge, search or tag each other's entries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from daybook.extensions import db
from daybook.models import Entry, Tag, entry_tag
from daybook.services import entries, search
from tests.databases import SEARCH_ID, SEARCH_TABLE
from tests.factories import make_entry

SECRET = "zanzibar"


def snapshot() -> tuple:
    """Everything a request could change about entries and tags."""
    rows = db.session.execute(
        sa.select(
            Entry.id,
            Entry.user_id,
            Entry.title,
            Entry.body,
            Entry.version,
            Entry.deleted_at,
            Entry.occurred_at,
        ).order_by(Entry.id)
    ).all()
    tag_rows = db.session.execute(sa.select(Tag.id, Tag.user_id, Tag.name).order_by(Tag.id)).all()
    links = db.session.execute(
        sa.select(entry_tag).order_by(entry_tag.c.entry_id, entry_tag.c.tag_id)
    ).all()
    fts = db.session.execute(
        sa.text(f"SELECT {SEARCH_ID}, title, body, tags FROM {SEARCH_TABLE} ORDER BY {SEARCH_ID}")
    ).all()
    return (
        tuple(map(tuple, rows)),
        tuple(map(tuple, tag_rows)),
        tuple(map(tuple, links)),
        tuple(map(tuple, fts)),
    )


@pytest.fixture
def alices(app, user):
    """Alice's live entry and trashed entry, both with a secret word and a secret tag."""
    live = make_entry(
        user, title=f"Alice {SECRET}", body=f"The {SECRET} plan.", tags=f"{SECRET} shared"
    )
    trashed = make_entry(user, title=f"Alice trashed {SECRET}", body=SECRET, tags=SECRET)
    entries.trash_entry(user, trashed.id)
    return live.id, trashed.id


def entry_form(version: str = "1") -> dict[str, str]:
    return {
        "title": "Bob was here",
        "body": "overwritten",
        "tags": "bob",
        "occurred_at": "",
        "version": version,
    }


def test_other_users_entry_urls_are_all_404(alices, auth_client, other_client):
    live, trashed = alices
    before = snapshot()
    requests = [
        ("get", f"/entries/{live}"),
        ("get", f"/entries/{live}/edit"),
        ("get", f"/entries/{live}/delete"),
        ("post", f"/entries/{live}/edit"),
        ("post", f"/entries/{live}/delete"),
        ("post", f"/entries/{live}/restore"),
        ("post", f"/entries/{live}/purge"),
        ("get", f"/entries/{trashed}"),
        ("get", f"/entries/{trashed}/edit"),
        ("post", f"/entries/{trashed}/edit"),
        ("post", f"/entries/{trashed}/delete"),
        ("post", f"/entries/{trashed}/restore"),
        ("post", f"/entries/{trashed}/purge"),
        ("get", f"/tags/{SECRET}/edit"),
        ("get", f"/tags/{SECRET}/delete"),
        ("post", f"/tags/{SECRET}/edit"),
        ("post", f"/tags/{SECRET}/delete"),
        ("get", "/tags/shared/edit"),
        ("post", "/tags/shared/delete"),
    ]
    for method, path in requests:
        for version in ("1", "2", "3"):
            if method == "get":
                response = other_client.get(path)
            else:
                response = other_client.form(path, {**entry_form(version), "new_name": "stolen"})
            assert response.status_code == 404, (method, path)
            assert SECRET not in response.get_data(as_text=True), (method, path)
            if method == "get":
                break
    assert snapshot() == before
    assert search.index_mismatches() == []
    # Alice still has everything.
    assert auth_client.get(f"/entries/{live}").status_code == 200
    assert SECRET in auth_client.get("/trash").get_data(as_text=True)


def shown(html: str) -> str:
    """The text of the entries, tags and results a page lists (not the echoed query)."""
    page = BeautifulSoup(html, "html.parser")
    parts = page.select("li.entry-card") + page.select("table.tag-table tbody tr")
    return " ".join(p.get_text(" ") for p in parts)


def test_other_users_entries_are_not_listed_searched_or_counted(alices, other_user, other_client):
    live, trashed = alices
    make_entry(other_user, title="Bob's own", body="the plan is nothing", tags="shared")
    pages = [
        "/entries",
        "/entries?page=2",
        f"/entries?tag={SECRET}",
        "/entries?tag=shared",
        "/trash",
        "/tags",
        f"/search?q={SECRET}",
        f"/search?q={SECRET[:4]}*",
        f"/search?q=alice&tag={SECRET}",
        "/search?q=plan",
        f'/search?q="the {SECRET} plan"',
        "/search?q=alice",
    ]
    for path in pages:
        response = other_client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert SECRET not in shown(html).lower() and "alice" not in shown(html).lower(), path
        assert f"/entries/{live}" not in html and f"/entries/{trashed}" not in html, path
    assert "Bob's own" in shown(other_client.get("/search?q=plan").get_data(as_text=True))
    rows = BeautifulSoup(other_client.get("/tags").get_data(as_text=True), "html.parser").select(
        "table.tag-table tbody tr"
    )
    assert [[td.get_text() for td in tr.find_all("td")][:2] for tr in rows] == [["#shared", "1"]]


def test_search_results_hold_only_ones_own_entries(alices, user, other_user, other_client):
    make_entry(other_user, title="Bob zanzibar", body=SECRET)
    html = other_client.get(f"/search?q={SECRET}").get_data(as_text=True)
    titles = [h.get_text() for h in BeautifulSoup(html, "html.parser").select("ol.results h2")]
    assert titles == ["Bob zanzibar"]
    assert [h.entry.user_id for h in search.search_entries(other_user, SECRET).hits] == [
        other_user.id
    ]
    assert {h.entry.user_id for h in search.search_entries(user, SECRET).hits} == {user.id}


def test_a_tag_with_the_same_name_stays_separate(alices, user, other_user, other_client):
    live, _ = alices
    mine = make_entry(other_user, title="Bob's", tags="shared")
    response = other_client.form("/tags/shared/edit", {"new_name": "renamed"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Entry, live).tag_names == ["shared", SECRET]
    assert db.session.get(Entry, mine.id).tag_names == ["renamed"]
    response = other_client.form("/tags/renamed/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Entry, live).tag_names == ["shared", SECRET]
    assert search.index_mismatches() == []


def test_writing_a_tag_name_someone_else_uses_does_not_join_their_tag(
    alices, user, other_user, other_client
):
    response = other_client.form(
        "/entries/new", {"title": "Bob", "body": "", "tags": SECRET, "occurred_at": ""}
    )
    assert response.status_code == 302
    owners = db.session.scalars(sa.select(Tag.user_id).where(Tag.name == SECRET)).all()
    assert sorted(owners) == sorted([user.id, other_user.id])
    assert [e.title for e in entries.list_entries(user, tag=SECRET).items] == [f"Alice {SECRET}"]
    assert [e.title for e in entries.list_entries(other_user, tag=SECRET).items] == ["Bob"]


def test_preview_does_not_read_entries(alices, other_client):
    live, _ = alices
    response = other_client.form("/entries/preview", {"body": f"[x](/entries/{live})"})
    assert response.status_code == 200
    assert SECRET not in response.get_data(as_text=True)
