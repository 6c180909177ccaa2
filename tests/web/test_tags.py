"""Tag pages over HTTP: the list with counts, rename, merge and delete, with search in step."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from daybook.services import entries, search, tags
from tests.factories import make_entry


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def tag_rows(client) -> list[tuple[str, str]]:
    page = soup(client.get("/tags"))
    return [
        (tr.find_all("td")[0].get_text(), tr.find_all("td")[1].get_text())
        for tr in page.select("table.tag-table tbody tr")
    ]


def search_titles(client, query: str) -> set[str]:
    page = soup(client.get("/search", query_string={"q": query}))
    return {h.get_text() for h in page.select("ol.results h2")}


def test_tags_typed_on_the_form_are_normalised(app, auth_client):
    auth_client.form(
        "/entries/new",
        {"title": "t", "body": "", "occurred_at": "", "tags": "Work, #Shipped  work,WORK 1on1"},
    )
    assert tag_rows(auth_client) == [("#1on1", "1"), ("#shipped", "1"), ("#work", "1")]


def test_tag_list_counts_live_entries(app, auth_client, user):
    make_entry(user, tags="work shipped")
    make_entry(user, tags="work")
    trashed = make_entry(user, tags="work ghost")
    entries.trash_entry(user, trashed.id)
    assert tag_rows(auth_client) == [("#ghost", "0"), ("#shipped", "1"), ("#work", "2")]
    page = soup(auth_client.get("/tags"))
    work = page.find("a", string="#work")
    assert work["href"] == "/entries?tag=work"
    row = work.find_parent("tr")
    assert {a["href"] for a in row.select("td.actions a")} == {
        "/tags/work/edit",
        "/tags/work/delete",
    }


def test_empty_tag_list(app, auth_client):
    assert "No tags yet" in auth_client.get("/tags").get_data(as_text=True)


def test_rename(app, auth_client, user):
    make_entry(user, title="One", tags="wrk")
    form = soup(auth_client.get("/tags/wrk/edit")).find("main").find("form")
    assert form["action"] == "/tags/wrk/edit"
    assert form.find("input", attrs={"name": "new_name"})["value"] == "wrk"
    response = auth_client.form("/tags/wrk/edit", {"new_name": "#Work"})
    assert response.status_code == 302 and response.headers["Location"] == "/tags"
    assert tag_rows(auth_client) == [("#work", "1")]
    assert search_titles(auth_client, "work") == {"One"}
    assert search_titles(auth_client, "wrk") == set()
    assert "One" in auth_client.get("/entries?tag=work").get_data(as_text=True)
    assert auth_client.get("/tags/wrk/edit").status_code == 404
    assert search.index_mismatches() == []


def test_rename_onto_an_existing_tag_merges(app, auth_client, user):
    make_entry(user, title="Old", tags="meeting")
    make_entry(user, title="Both", tags="meeting meetings")
    make_entry(user, title="New", tags="meetings")
    response = auth_client.form("/tags/meeting/edit", {"new_name": "meetings"})
    assert response.status_code == 302
    assert tag_rows(auth_client) == [("#meetings", "3")]
    assert search_titles(auth_client, "meetings") == {"Old", "Both", "New"}
    assert search.index_mismatches() == []


@pytest.mark.parametrize("new_name", ["", "two words!", "c++", "x" * 65, "a//b"])
def test_rename_to_a_bad_name_is_400_with_input_kept(app, auth_client, user, new_name):
    make_entry(user, tags="good")
    response = auth_client.form("/tags/good/edit", {"new_name": new_name})
    assert response.status_code == 400
    page = soup(response)
    assert page.find(id="e-new_name").get_text(strip=True)
    assert page.find("input", attrs={"name": "new_name"})["value"] == new_name
    assert tag_rows(auth_client) == [("#good", "1")]


def test_delete_asks_then_removes_the_tag_but_not_the_entries(app, auth_client, user):
    make_entry(user, title="Kept", tags="drop stay")
    confirm = auth_client.get("/tags/drop/delete")
    assert confirm.status_code == 200
    assert soup(confirm).find("main").find("form")["action"] == "/tags/drop/delete"
    assert tag_rows(auth_client) == [("#drop", "1"), ("#stay", "1")]
    response = auth_client.form("/tags/drop/delete")
    assert response.status_code == 302 and response.headers["Location"] == "/tags"
    assert tag_rows(auth_client) == [("#stay", "1")]
    assert "Kept" in auth_client.get("/entries").get_data(as_text=True)
    assert search_titles(auth_client, "drop") == set()
    assert search_titles(auth_client, "stay") == {"Kept"}
    assert search.index_mismatches() == []


def test_tags_with_a_slash_can_be_renamed_and_deleted(app, auth_client, user):
    make_entry(user, title="Nested", tags="project/daybook")
    edit, _ = [a["href"] for a in soup(auth_client.get("/tags")).select("td.actions a")]
    assert auth_client.get(edit).status_code == 200
    assert auth_client.form(edit, {"new_name": "project/journal"}).status_code == 302
    assert tag_rows(auth_client) == [("#project/journal", "1")]
    _, delete = [a["href"] for a in soup(auth_client.get("/tags")).select("td.actions a")]
    assert auth_client.get(delete).status_code == 200
    assert auth_client.form(delete).status_code == 302
    assert tag_rows(auth_client) == []


def test_unknown_tags_are_404(app, auth_client):
    assert auth_client.get("/tags/nosuch/edit").status_code == 404
    assert auth_client.get("/tags/nosuch/delete").status_code == 404
    assert auth_client.form("/tags/nosuch/edit", {"new_name": "x"}).status_code == 404
    assert auth_client.form("/tags/nosuch/delete").status_code == 404


def test_tag_names_in_flash_messages_are_text(app, auth_client, user):
    make_entry(user, tags="plain")
    response = auth_client.form("/tags/plain/edit", {"new_name": "renamed"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Tag “plain” is now “renamed”." in response.get_data(as_text=True)
    assert tags.list_tags(user) == [("renamed", 1)]
