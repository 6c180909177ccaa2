"""GET /search: ranked results with <mark> snippets, HTML-escaped, owner-scoped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.conftest import API, assert_entry, assert_problem
from tests.factories import make_entry


def search(api, query: str) -> dict:
    response = api.get(f"/search?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"results", "next"}
    for hit in body["results"]:
        assert set(hit) == {"entry", "title_html", "snippet_html"}
        assert_entry(hit["entry"])
    return body


def test_hits_are_ranked_with_marked_snippets(api, user):
    body_only = make_entry(user, title="Notes", body="We talked about kafka once.")
    in_title = make_entry(user, title="Kafka outage", body="The brokers fell over.")
    make_entry(user, title="Unrelated", body="Nothing here.")
    body = search(api, "q=kafka")
    assert [h["entry"]["id"] for h in body["results"]] == [in_title.id, body_only.id]
    first, second = body["results"]
    assert first["title_html"] == "<mark>Kafka</mark> outage"
    assert second["title_html"] == "Notes"
    assert second["snippet_html"] == "We talked about <mark>kafka</mark> once."
    assert body["next"] is None


def test_snippets_and_titles_are_html_escaped(api, user):
    make_entry(
        user,
        title="<b>bold</b> & kafka",
        body="Use `<script>alert('kafka')</script>` & <img src=x onerror=alert(1)> kafka",
    )
    [hit] = search(api, "q=kafka")["results"]
    assert hit["title_html"] == "&lt;b&gt;bold&lt;/b&gt; &amp; <mark>kafka</mark>"
    snippet = hit["snippet_html"]
    assert "<script" not in snippet and "<img" not in snippet
    assert "&lt;script&gt;" in snippet
    # The only tags in either are the marks.
    for html in (hit["title_html"], snippet):
        stripped = html.replace("<mark>", "").replace("</mark>", "")
        assert "<" not in stripped and ">" not in stripped


def test_query_language(api, user):
    a = make_entry(user, title="a", body="ship the release train")
    b = make_entry(user, title="b", body="release notes, no ship")
    c = make_entry(user, title="c", body="kafka day")
    assert {h["entry"]["id"] for h in search(api, "q=%22release+train%22")["results"]} == {a.id}
    assert {h["entry"]["id"] for h in search(api, "q=release+-train")["results"]} == {b.id}
    assert {h["entry"]["id"] for h in search(api, "q=kaf*")["results"]} == {c.id}
    assert {h["entry"]["id"] for h in search(api, "q=ship+OR+kafka")["results"]} == set()


@pytest.mark.parametrize("q", ["AND", "(", '"', "NEAR(", "*", "-", "a OR", "kafka)"])
def test_operator_input_never_fails(api, user, q):
    make_entry(user, title="kafka")
    response = api.get("/search", query_string={"q": q})
    assert response.status_code == 200


def test_filters(api, user):
    make_entry(user, title="kafka work", tags="work", occurred_at=datetime(2026, 1, 5, tzinfo=UTC))
    make_entry(user, title="kafka home", tags="home", occurred_at=datetime(2026, 2, 5, tzinfo=UTC))
    assert [h["entry"]["title"] for h in search(api, "q=kafka&tag=work")["results"]] == [
        "kafka work"
    ]
    body = search(api, "q=kafka&from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00%2B00:00")
    assert [h["entry"]["title"] for h in body["results"]] == ["kafka home"]


def test_tags_are_searchable(api, user):
    entry = make_entry(user, title="Plain", body="nothing", tags="kubernetes")
    assert [h["entry"]["id"] for h in search(api, "q=kubernetes")["results"]] == [entry.id]


def test_pages(api, user):
    for n in range(25):
        make_entry(user, title=f"kafka {n}")
    first = search(api, "q=kafka")
    assert len(first["results"]) == 20
    assert first["next"] == f"{API}/search?q=kafka&page=2"
    second = api.get(first["next"]).get_json()
    assert len(second["results"]) == 5
    assert second["next"] is None
    ids = [h["entry"]["id"] for h in first["results"] + second["results"]]
    assert len(set(ids)) == 25


def test_other_users_and_trashed_entries_are_not_found(api, other_api, user, other_user):
    make_entry(other_user, title="kafka of bob")
    trashed = make_entry(user, title="kafka in the bin")
    api.delete(f"/entries/{trashed.id}")
    assert search(api, "q=kafka")["results"] == []
    api.post(f"/entries/{trashed.id}/restore")
    assert [h["entry"]["id"] for h in search(api, "q=kafka")["results"]] == [trashed.id]


def test_edits_are_searchable_at_once(api, user):
    entry = make_entry(user, title="before")
    api.patch(f"/entries/{entry.id}", json={"body": "zeppelin"}, headers={"If-Match": "*"})
    assert [h["entry"]["id"] for h in search(api, "q=zeppelin")["results"]] == [entry.id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "q"),
        ("q=", "q"),
        ("q=" + "x" * 501, "q"),
        ("q=a&page=0", "page"),
        ("q=a&from=yesterday", "from"),
        ("q=a&to=2026-01-01T00:00:00", "to"),
        ("q=a&to=0001-01-01T00:00:00%2B14:00", "to"),
        ("q=a&sort=rank", "sort"),
    ],
)
def test_bad_parameters_are_422(api, query, field):
    body = assert_problem(api.get(f"/search?{query}"), 422)
    assert field in body["errors"], body


def test_a_query_without_words_finds_nothing(api, user):
    make_entry(user, title="kafka")
    assert search(api, "q=%20%20")["results"] == []
    assert search(api, "q=-kafka")["results"] == []
