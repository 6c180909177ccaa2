"""Entry pages over HTTP: write, read, list, edit with conflicts, preview, trash, restore, purge."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from daybook.extensions import db
from daybook.models import Entry, Tag
from daybook.services import entries, search
from tests.factories import make_entry


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def count_entries() -> int:
    return db.session.scalar(sa.select(sa.func.count(Entry.id)))


def entry_form(**fields) -> dict[str, str]:
    return {"title": "A title", "body": "Some text.", "tags": "", "occurred_at": "", **fields}


def at(day: int) -> datetime:
    return datetime(2026, 5, 1, 9, 0, tzinfo=UTC) + timedelta(days=day)


def set_timezone(user, name: str) -> None:
    user.timezone = name
    db.session.commit()


# -- login required --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/entries", "/entries/new", "/entries/1", "/entries/1/edit", "/entries/1/delete", "/trash"],
)
def test_pages_need_a_login(app, client, user, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# -- create ----------------------------------------------------------------------------------


def test_new_entry_form_has_every_field_with_a_label(app, auth_client):
    page = soup(auth_client.get("/entries/new"))
    form = page.find("form", id="entry-form")
    for name in ("title", "body", "tags", "occurred_at"):
        control = form.find(attrs={"name": name})
        assert control is not None, name
        assert page.find("label", attrs={"for": control["id"]}) is not None, name
    assert form.find(attrs={"name": "occurred_at"})["type"] == "datetime-local"
    assert form.find("input", attrs={"name": "csrf_token"}) is not None
    assert {b["value"] for b in form.find_all("button")} == {"save", "preview"}


def test_new_entry_form_prefills_a_tag(app, auth_client):
    page = soup(auth_client.get("/entries/new?tag=work"))
    assert page.find("input", attrs={"name": "tags"})["value"] == "work"


def test_create_lands_on_the_entry_page(app, auth_client, user):
    response = auth_client.form(
        "/entries/new",
        entry_form(
            title="Shipped search",
            body="We shipped **FTS5** today.",
            tags="Work, #shipped",
        ),
    )
    assert response.status_code == 302
    entry = db.session.scalar(sa.select(Entry))
    assert response.headers["Location"] == f"/entries/{entry.id}"
    assert (entry.user_id, entry.title, entry.tag_names) == (
        user.id,
        "Shipped search",
        ["shipped", "work"],
    )

    page = auth_client.get(f"/entries/{entry.id}")
    assert page.status_code == 200
    html = soup(page)
    assert html.find("h1").get_text() == "Shipped search"
    assert html.find("div", class_="prose").find("strong").get_text() == "FTS5"
    assert [a.get_text() for a in html.select("ul.tags a")] == ["#shipped", "#work"]
    assert "Entry saved." in page.get_data(as_text=True)
    assert "4 words" in html.find("p", class_="meta").get_text()


def test_occurred_at_is_read_and_shown_in_the_users_time_zone(app, auth_client, user):
    set_timezone(user, "America/New_York")
    response = auth_client.form("/entries/new", entry_form(occurred_at="2026-07-01T09:30"))
    assert response.status_code == 302
    entry = db.session.scalar(sa.select(Entry))
    assert entry.occurred_at == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)

    detail = soup(auth_client.get(f"/entries/{entry.id}"))
    time = detail.find("p", class_="meta").find("time")
    assert time["datetime"] == "2026-07-01T13:30:00+00:00"
    assert time.get_text() == "Wed 01 Jul 2026, 09:30"
    edit = soup(auth_client.get(f"/entries/{entry.id}/edit"))
    assert edit.find("input", attrs={"name": "occurred_at"})["value"] == "2026-07-01T09:30"


def test_empty_occurred_at_means_now(app, auth_client):
    before = datetime.now(UTC)
    auth_client.form("/entries/new", entry_form())
    entry = db.session.scalar(sa.select(Entry))
    assert before - timedelta(seconds=1) <= entry.occurred_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"body": "nul \x00 byte"}, "body"),
        ({"body": "a" * (1024 * 1024 + 1)}, "body"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-13-45T25:61"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00"}, "occurred_at"),
        ({"tags": " ".join(f"t{i}" for i in range(51))}, "tags"),
        ({"tags": ",".join(f"tag{i}" for i in range(10_000))}, "tags"),
        ({"tags": "fine c++"}, "tags"),
        ({"tags": "<script>alert(1)</script>"}, "tags"),
    ],
)
def test_bad_input_comes_back_with_400_the_input_kept_and_nothing_written(
    app, auth_client, fields, bad
):
    data = entry_form(**{"title": "Kept title", "body": "Kept *body*", "tags": "kept", **fields})
    response = auth_client.form("/entries/new", data)
    assert response.status_code == 400
    page = soup(response)
    error = page.find(id=f"e-{bad}")
    assert error is not None and error.get_text(strip=True), page.find("form")
    form = page.find("form", id="entry-form")
    if bad != "title" or "\x00" not in data["title"]:
        assert form.find("input", attrs={"name": "title"})["value"] == data["title"]
    if "\x00" not in data["body"]:
        assert form.find("textarea", attrs={"name": "body"}).get_text() == data["body"]
    assert form.find("input", attrs={"name": "tags"})["value"] == data["tags"]
    assert form.find("input", attrs={"name": "occurred_at"})["value"] == data["occurred_at"]
    assert count_entries() == 0
    assert db.session.scalar(sa.select(sa.func.count(Tag.id))) == 0


def test_a_one_megabyte_body_is_accepted(app, auth_client):
    body = ("word " * 209_716)[: 1024 * 1024]
    response = auth_client.form("/entries/new", entry_form(body=body))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert len(db.session.scalar(sa.select(Entry.body))) == 1024 * 1024


def test_oversized_post_gets_a_413_page(app, auth_client):
    response = auth_client.form("/entries/new", entry_form(body="a" * (5 * 1024 * 1024)))
    assert response.status_code == 413
    assert "Too large" in response.get_data(as_text=True)
    assert count_entries() == 0


def test_post_without_csrf_token_is_refused(app, auth_client):
    response = auth_client.post("/entries/new", data=entry_form())
    assert response.status_code == 400
    assert count_entries() == 0


# -- preview ---------------------------------------------------------------------------------


def test_preview_without_javascript_rerenders_the_form(app, auth_client):
    data = entry_form(title="Draft", body="# Heading\n\n- [x] done", tags="x", action="preview")
    response = auth_client.form("/entries/new", data)
    assert response.status_code == 200
    page = soup(response)
    preview = page.find(id="preview")
    assert not preview.has_attr("hidden")
    assert preview.find("h1").get_text() == "Heading"
    assert preview.find("input")["type"] == "checkbox"
    assert page.find("input", attrs={"name": "title"})["value"] == "Draft"
    assert page.find("textarea").get_text() == "# Heading\n\n- [x] done"
    assert count_entries() == 0


def test_preview_while_editing_keeps_the_version(app, auth_client, user):
    entry = make_entry(user, body="old")
    data = entry_form(body="**new**", version="1", action="preview")
    page = soup(auth_client.form(f"/entries/{entry.id}/edit", data))
    assert page.find(id="preview-body").find("strong").get_text() == "new"
    assert page.find("input", attrs={"name": "version"})["value"] == "1"
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).body == "old"


def test_preview_endpoint_returns_the_fragment(app, auth_client):
    response = auth_client.form("/entries/preview", {"body": "~~gone~~ and `code`"})
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html == "<p><s>gone</s> and <code>code</code></p>"


def test_preview_endpoint_accepts_the_csrf_header(app, auth_client):
    response = auth_client.post(
        "/entries/preview", data={"body": "*x*"}, headers={"X-CSRFToken": auth_client.csrf}
    )
    assert response.status_code == 200 and "<em>x</em>" in response.get_data(as_text=True)
    assert auth_client.post("/entries/preview", data={"body": "*x*"}).status_code == 400


def test_editor_script_is_served_from_this_site(app, auth_client):
    page = soup(auth_client.get("/entries/new"))
    (script,) = page.find_all("script")
    assert script["src"] == "/static/js/editor.js"
    with auth_client.get(script["src"]) as response:
        assert response.status_code == 200


# -- list ------------------------------------------------------------------------------------


def test_list_is_newest_first_twenty_a_page(app, auth_client, user):
    for day in range(25):
        make_entry(
            user,
            title=f"Day {day}",
            body=f"Body of day {day}.",
            tags=f"d{day % 2}",
            occurred_at=at(day),
        )
    first = soup(auth_client.get("/entries"))
    cards = first.select("li.entry-card")
    assert [c.find("h2").get_text() for c in cards] == [f"Day {d}" for d in range(24, 4, -1)]
    top = cards[0]
    assert top.find("h2").find("a")["href"].startswith("/entries/")
    assert top.find("time").get_text() == "Mon 25 May 2026, 09:00"
    assert top.find("p", class_="excerpt").get_text() == "Body of day 24."
    assert "4 words" in top.find("p", class_="meta").get_text()
    assert [a.get_text() for a in top.select("ul.tags a")] == ["#d0"]
    assert first.find("a", rel="next")["href"] == "/entries?page=2"
    assert first.find("a", rel="prev") is None

    second = soup(auth_client.get("/entries?page=2"))
    assert [c.find("h2").get_text() for c in second.select("li.entry-card")] == [
        f"Day {d}" for d in range(4, -1, -1)
    ]
    assert second.find("a", rel="prev")["href"] == "/entries?page=1"
    assert second.find("a", rel="next") is None


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1e9", ""])
def test_malformed_page_numbers_show_the_first_page(app, auth_client, user, page):
    make_entry(user, title="Only")
    response = auth_client.get(f"/entries?page={page}")
    assert response.status_code == 200
    assert "Only" in response.get_data(as_text=True)


def test_a_page_past_the_end_says_so(app, auth_client, user):
    make_entry(user)
    response = auth_client.get("/entries?page=99")
    assert response.status_code == 200 and "No more entries" in response.get_data(as_text=True)


def test_empty_list_invites_writing(app, auth_client):
    assert "Write your first entry" in auth_client.get("/entries").get_data(as_text=True)


def test_list_filters_by_tag(app, auth_client, user):
    make_entry(user, title="Work one", tags="work")
    make_entry(user, title="Home one", tags="home")
    for tag in ("work", "WORK", "%23work"):
        page = soup(auth_client.get(f"/entries?tag={tag}"))
        assert [c.find("h2").get_text() for c in page.select("li.entry-card")] == ["Work one"], tag
    page = soup(auth_client.get("/entries?tag=nosuch"))
    assert page.select("li.entry-card") == []
    assert "No entries carry this tag." in page.get_text()


def test_tag_filter_keeps_the_tag_in_page_links(app, auth_client, user):
    for day in range(21):
        make_entry(user, title=f"Day {day}", tags="log", occurred_at=at(day))
    page = soup(auth_client.get("/entries?tag=log"))
    assert page.find("a", rel="next")["href"] == "/entries?page=2&tag=log"


# -- edit ------------------------------------------------------------------------------------


def test_edit_form_carries_the_entry_and_its_version(app, auth_client, user):
    entry = make_entry(user, title="Title", body="Body", tags="b a", occurred_at=at(0))
    page = soup(auth_client.get(f"/entries/{entry.id}/edit"))
    form = page.find("form", id="entry-form")
    assert form["action"] == f"/entries/{entry.id}/edit"
    assert form.find("input", attrs={"name": "title"})["value"] == "Title"
    assert form.find("textarea").get_text() == "Body"
    assert form.find("input", attrs={"name": "tags"})["value"] == "a b"
    assert form.find("input", attrs={"name": "occurred_at"})["value"] == "2026-05-01T09:00"
    assert form.find("input", attrs={"name": "version"})["value"] == "1"


def test_edit_saves_and_lands_on_the_entry(app, auth_client, user):
    entry = make_entry(user, title="Before", body="old", tags="old")
    response = auth_client.form(
        f"/entries/{entry.id}/edit",
        entry_form(
            title="After",
            body="new *text*",
            tags="new",
            occurred_at="2026-01-02T03:04",
            version="1",
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/entries/{entry.id}"
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert (stored.title, stored.body, stored.tag_names, stored.version) == (
        "After",
        "new *text*",
        ["new"],
        2,
    )
    assert stored.occurred_at == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert (
        "edited"
        in soup(auth_client.get(f"/entries/{entry.id}")).find("p", class_="meta").get_text()
    )


def test_edit_with_bad_input_keeps_input_and_the_entry(app, auth_client, user):
    entry = make_entry(user, title="Keep me", body="kept")
    response = auth_client.form(
        f"/entries/{entry.id}/edit", entry_form(title="", body="changed", version="1")
    )
    assert response.status_code == 400
    page = soup(response)
    assert page.find(id="e-title") is not None
    assert page.find("textarea").get_text() == "changed"
    assert page.find("input", attrs={"name": "version"})["value"] == "1"
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).title == "Keep me"


def test_stale_edit_shows_both_versions_and_then_saves_mine(app, auth_client, user):
    entry = make_entry(user, title="Plan", body="Original plan.")
    stale = soup(auth_client.get(f"/entries/{entry.id}/edit"))
    version = stale.find("input", attrs={"name": "version"})["value"]

    # Another tab saves first.
    other_tab = auth_client.form(
        f"/entries/{entry.id}/edit",
        entry_form(
            title="Plan (saved)",
            body="Saved **elsewhere**.",
            tags="theirs",
            version=version,
        ),
    )
    assert other_tab.status_code == 302

    # The first tab's save arrives with the old version: nothing is overwritten.
    response = auth_client.form(
        f"/entries/{entry.id}/edit",
        entry_form(
            title="Plan (mine)",
            body="My _own_ text.",
            tags="mine",
            version=version,
        ),
    )
    assert response.status_code == 409
    page = soup(response)
    text = page.get_text()
    assert "changed while you were editing" in text
    saved, mine = page.select("div.compare > section")
    assert saved.find("h3").get_text() == "Plan (saved)"
    assert [a.get_text() for a in saved.select("ul.tags a")] == ["#theirs"]
    assert saved.find("strong").get_text() == "elsewhere"
    assert mine.find("details").find("em").get_text() == "own"
    assert "version 2" in saved.find("h2").get_text()
    form = mine.find("form")
    assert form.find("textarea", attrs={"name": "body"}).get_text() == "My _own_ text."
    assert form.find("input", attrs={"name": "title"})["value"] == "Plan (mine)"
    assert form.find("input", attrs={"name": "tags"})["value"] == "mine"
    assert form.find("input", attrs={"name": "version"})["value"] == "2"
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert (stored.body, stored.version) == ("Saved **elsewhere**.", 2)

    # "Save my version" from the conflict page.
    data = {
        tag["name"]: tag.get("value", tag.get_text())
        for tag in form.find_all(["input", "textarea"])
    }
    data["action"] = "save"
    del data["csrf_token"]
    response = auth_client.form(form["action"], data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/entries/{entry.id}"
    db.session.expire_all()
    stored = db.session.get(Entry, entry.id)
    assert (stored.title, stored.body, stored.tag_names, stored.version) == (
        "Plan (mine)",
        "My _own_ text.",
        ["mine"],
        3,
    )
    assert search.index_mismatches() == []


@pytest.mark.parametrize("version", ["", "abc", "0", "99"])
def test_edit_with_a_missing_or_wrong_version_is_a_conflict(app, auth_client, user, version):
    entry = make_entry(user, body="keep")
    response = auth_client.form(
        f"/entries/{entry.id}/edit", entry_form(body="lost?", version=version)
    )
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).body == "keep"


# -- delete, trash, restore, purge -----------------------------------------------------------


def test_delete_asks_first_then_moves_to_the_trash(app, auth_client, user):
    entry = make_entry(user, title="Regret", body="unique-wombat")
    confirm = auth_client.get(f"/entries/{entry.id}/delete")
    assert confirm.status_code == 200
    form = soup(confirm).find("main").find("form")
    assert form["method"] == "post" and form["action"] == f"/entries/{entry.id}/delete"
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).deleted_at is None

    response = auth_client.form(f"/entries/{entry.id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/trash"
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).deleted_at is not None
    assert auth_client.get(f"/entries/{entry.id}").status_code == 404
    assert "Regret" not in auth_client.get("/entries").get_data(as_text=True)
    assert "No entries match" in auth_client.get("/search?q=wombat").get_data(as_text=True)

    trash = soup(auth_client.get("/trash"))
    (card,) = trash.select("li.entry-card")
    assert card.find("h2").get_text() == "Regret"
    actions = {f["action"] for f in card.find_all("form")}
    assert actions == {f"/entries/{entry.id}/restore", f"/entries/{entry.id}/purge"}
    assert "30 days" in trash.get_text()


def test_restore_brings_it_back(app, auth_client, user):
    entry = make_entry(user, title="Back", body="unique-wombat")
    entries.trash_entry(user, entry.id)
    response = auth_client.form(f"/entries/{entry.id}/restore")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/entries/{entry.id}"
    assert auth_client.get(f"/entries/{entry.id}").status_code == 200
    assert "Back" in auth_client.get("/search?q=wombat").get_data(as_text=True)
    assert search.index_mismatches() == []


def test_purge_deletes_for_good(app, auth_client, user):
    entry = make_entry(user, title="Gone", tags="t")
    entry_id = entry.id
    entries.trash_entry(user, entry_id)
    response = auth_client.form(f"/entries/{entry_id}/purge")
    assert response.status_code == 302 and response.headers["Location"] == "/trash"
    db.session.expire_all()
    assert db.session.get(Entry, entry_id) is None
    assert "The trash is empty." in auth_client.get("/trash").get_data(as_text=True)
    assert search.index_mismatches() == []


def test_restore_and_purge_are_post_only(app, auth_client, user):
    entry = make_entry(user)
    entries.trash_entry(user, entry.id)
    assert auth_client.get(f"/entries/{entry.id}/restore").status_code == 405
    assert auth_client.get(f"/entries/{entry.id}/purge").status_code == 405
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).deleted_at is not None


def test_restore_or_purge_of_a_live_entry_is_not_found(app, auth_client, user):
    entry = make_entry(user)
    assert auth_client.form(f"/entries/{entry.id}/restore").status_code == 404
    assert auth_client.form(f"/entries/{entry.id}/purge").status_code == 404
    db.session.expire_all()
    assert db.session.get(Entry, entry.id).deleted_at is None


def test_trashed_entry_cannot_be_edited_or_deleted_again(app, auth_client, user):
    entry = make_entry(user, body="keep")
    entries.trash_entry(user, entry.id)
    assert auth_client.get(f"/entries/{entry.id}/edit").status_code == 404
    # A save into a trashed entry changes nothing but keeps the text on a 409 page (tested below).
    assert auth_client.form(f"/entries/{entry.id}/edit", entry_form(version="2")).status_code == 409
    assert entries.get_entry(user, entry.id, trashed=True).body == "keep"
    assert auth_client.form(f"/entries/{entry.id}/delete").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/entries/999999"),
        ("get", "/entries/999999/edit"),
        ("get", "/entries/999999/delete"),
        ("post", "/entries/999999/edit"),
        ("post", "/entries/999999/delete"),
        ("post", "/entries/999999/restore"),
        ("post", "/entries/999999/purge"),
    ],
)
def test_unknown_ids_are_404(app, auth_client, method, path):
    response = (
        auth_client.get(path)
        if method == "get"
        else auth_client.form(path, entry_form(version="1"))
    )
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_non_numeric_and_out_of_range_ids_are_404(app, auth_client):
    assert auth_client.get("/entries/abc").status_code == 404
    assert auth_client.get("/entries/-1").status_code == 404
    assert auth_client.get("/entries/0").status_code == 404
    huge = "9" * 30
    assert auth_client.get(f"/entries/{huge}").status_code == 404
    assert auth_client.get(f"/entries/{2**63}/edit").status_code == 404
    assert auth_client.form(f"/entries/{huge}/restore").status_code == 404
    assert auth_client.form(f"/entries/{huge}/purge").status_code == 404


def test_navigation_links_every_section(app, auth_client):
    nav = soup(auth_client.get("/entries")).find("nav", attrs={"aria-label": "Main"})
    links = {a.get_text(): a["href"] for a in nav.find_all("a")}
    assert links == {
        "Entries": "/entries",
        "New entry": "/entries/new",
        "Tags": "/tags",
        "Search": "/search",
        "Trash": "/trash",
        "Settings": "/settings",
    }
    assert nav.find("form", action="/logout")["method"] == "post"


def test_word_count_in_the_list_is_singular_for_one_word(app, auth_client, user):
    make_entry(user, body="Alone")
    meta = soup(auth_client.get("/entries")).find("p", class_="meta").get_text()
    assert re.search(r"\b1 word\b", meta) and "words" not in meta


def test_saving_an_entry_trashed_in_another_tab_keeps_the_text(app, auth_client, user):
    from tests.factories import make_entry

    entry = make_entry(user, title="Draft", body="old")
    entry_id = entry.id
    auth_client.form(f"/entries/{entry_id}/delete")
    response = auth_client.form(
        f"/entries/{entry_id}/edit",
        {"title": "Draft", "body": "my precious new paragraph", "tags": "", "version": "1"},
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "my precious new paragraph" in page and "moved to the trash" in page
    assert f"/entries/{entry_id}/restore" in page


def test_list_cards_follow_edits_renames_and_the_time_zone(app, auth_client, user):
    # Cards are drawn once and kept: every change that shows on a card must show at once.
    from daybook.services import tags as tag_service

    entry = make_entry(
        user,
        title="Before",
        body="One two.",
        tags="old",
        occurred_at=datetime(2026, 7, 1, 13, 30, tzinfo=UTC),
    )

    def card():
        return soup(auth_client.get("/entries")).find("li", class_="entry-card")

    first = card()
    assert first.find("h2").get_text() == "Before"
    assert first.find("time").get_text() == "Wed 01 Jul 2026, 13:30"
    assert [a.get_text() for a in first.select("ul.tags a")] == ["#old"]
    entries.update_entry(
        user,
        entry.id,
        expected_version=entry.version,
        title="After",
        body="One two three.",
        tags="old",
        occurred_at=entry.occurred_at,
    )
    edited = card()
    assert edited.find("h2").get_text() == "After"
    assert "3 words" in edited.find("p", class_="meta").get_text()
    tag_service.rename_tag(user, "old", "new")
    assert [a.get_text() for a in card().select("ul.tags a")] == ["#new"]
    set_timezone(user, "America/New_York")
    assert card().find("time").get_text() == "Wed 01 Jul 2026, 09:30"
