"""The search page over HTTP: results, snippets, filters, pages and hostile queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from daybook.extensions import db
from tests.factories import make_entry
from tests.services.test_search import HOSTILE_QUERIES


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def result_titles(response) -> list[str]:
    return [h.get_text() for h in soup(response).select("ol.results h2")]


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 4, 1, hour, tzinfo=UTC) + timedelta(days=day)


def test_search_needs_a_login(app, client, user):
    response = client.get("/search?q=x")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_empty_search_page_shows_the_form(app, auth_client):
    response = auth_client.get("/search")
    assert response.status_code == 200
    page = soup(response)
    form = page.find("form", role="search")
    assert form["method"] == "get"
    assert {i["name"] for i in form.find_all("input")} == {"q", "tag", "from", "to"}
    assert page.select("ol.results") == []


def test_results_are_ranked_with_highlighted_snippets(app, auth_client, user):
    body_hit = make_entry(user, title="Weekly notes", body="We talked about kubernetes upgrades.")
    title_hit = make_entry(user, title="Kubernetes", body="Cluster notes.", tags="infra")
    response = auth_client.get("/search?q=kubernetes")
    assert response.status_code == 200
    page = soup(response)
    cards = page.select("ol.results > li")
    assert [c.find("h2").get_text() for c in cards] == ["Kubernetes", "Weekly notes"]
    assert cards[0].find("h2").find("a")["href"] == f"/entries/{title_hit.id}"
    assert cards[0].find("h2").find("mark").get_text() == "Kubernetes"
    assert [a.get_text() for a in cards[0].select("ul.tags a")] == ["#infra"]
    assert cards[1].find("p", class_="excerpt").find("mark").get_text() == "kubernetes"
    assert cards[1].find("h2").find("a")["href"] == f"/entries/{body_hit.id}"
    assert page.find("input", attrs={"name": "q"})["value"] == "kubernetes"


def test_many_matches_say_they_are_ranked_newest_first(app, auth_client, user, monkeypatch):
    from daybook.services import search

    make_entry(user, title="Few", body="rare word")
    assert "ranked among the most recent" not in auth_client.get("/search?q=rare").get_data(
        as_text=True
    )
    monkeypatch.setattr(search, "RANK_WINDOW", 20)
    for n in range(25):
        make_entry(user, title=f"Standup {n}", body="daily standup")
    first = auth_client.get("/search?q=standup")
    assert "ranked among the most recent" in first.get_data(as_text=True)
    assert len(result_titles(first)) == 20
    assert "page=2" in soup(first).find("a", rel="next")["href"]
    second = auth_client.get("/search?q=standup&page=2")
    assert len(result_titles(second)) == 5
    assert set(result_titles(first)).isdisjoint(result_titles(second))


def test_snippets_escape_html_from_the_entry(app, auth_client, user):
    make_entry(
        user,
        title="<i>Console</i>",
        body="Tried `<script>alert('pwned')</script>` in the console today.",
    )
    response = auth_client.get("/search?q=console")
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    card = soup(response).select_one("ol.results > li")
    assert card.find("h2").get_text() == "<i>Console</i>"
    assert card.find("h2").find("i") is None
    assert {m.get_text().lower() for m in card.find_all("mark")} == {"console"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("review", ["Retro", "Reading"]),
        ('"code review culture"', ["Reading"]),
        ("review -flaky", ["Reading"]),
        ("tomat*", ["Garden"]),
        ("home", ["Garden"]),
    ],
)
def test_query_language(app, auth_client, user, query, expected):
    make_entry(user, title="Garden", body="Planted tomatoes.", tags="home", occurred_at=at(1))
    make_entry(user, title="Retro", body="The flaky pipeline; code review.", occurred_at=at(2))
    make_entry(user, title="Reading", body="A book on code review culture.", occurred_at=at(3))
    response = auth_client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert sorted(result_titles(response)) == sorted(expected)


def test_nothing_found_says_so(app, auth_client, user):
    make_entry(user, body="something")
    response = auth_client.get("/search?q=absent")
    assert response.status_code == 200
    assert "No entries match “absent”." in response.get_data(as_text=True)


def test_only_exclusions_ask_for_a_word(app, auth_client, user):
    response = auth_client.get("/search?q=-nothing")
    assert response.status_code == 200
    assert "Add a word to search for." in response.get_data(as_text=True)


def test_tag_and_date_filters(app, auth_client, user):
    make_entry(user, title="March", body="standup", tags="work", occurred_at=at(-1))
    make_entry(user, title="April first", body="standup", tags="work", occurred_at=at(0, 23))
    make_entry(user, title="April second", body="standup", tags="home", occurred_at=at(1, 0))
    make_entry(user, title="May", body="standup", tags="work", occurred_at=at(30))

    def titles(**args):
        return sorted(
            result_titles(auth_client.get("/search", query_string={"q": "standup", **args}))
        )

    assert titles() == ["April first", "April second", "March", "May"]
    assert titles(tag="work") == ["April first", "March", "May"]
    assert titles(tag="#Work") == ["April first", "March", "May"]
    # Dates are whole days in the user's zone; "to" includes its day.
    assert titles(**{"from": "2026-04-01", "to": "2026-04-01"}) == ["April first"]
    assert titles(**{"from": "2026-04-01", "to": "2026-04-02"}) == ["April first", "April second"]
    assert titles(**{"from": "2026-04-02"}) == ["April second", "May"]
    assert titles(to="2026-03-31") == ["March"]
    assert titles(tag="work", **{"from": "2026-04-01", "to": "2026-04-30"}) == ["April first"]


def test_date_filters_use_the_users_time_zone(app, auth_client, user):
    user.timezone = "Asia/Tokyo"
    db.session.commit()
    # 23:00 UTC on 1 April is 08:00 on 2 April in Tokyo.
    make_entry(user, title="Late", body="standup", occurred_at=at(0, 23))
    response = auth_client.get(
        "/search", query_string={"q": "standup", "from": "2026-04-02", "to": "2026-04-02"}
    )
    assert result_titles(response) == ["Late"]
    response = auth_client.get("/search", query_string={"q": "standup", "to": "2026-04-01"})
    assert result_titles(response) == []


def test_bad_dates_are_400_with_the_input_kept(app, auth_client, user):
    make_entry(user, body="standup")
    for field in ("from", "to"):
        for value in ("yesterday", "2026-02-30", "31/12/2026", "0000-01-01", "\x00"):
            response = auth_client.get("/search", query_string={"q": "standup", field: value})
            assert response.status_code == 400, (field, value)
            page = soup(response)
            error = page.find("input", attrs={"name": field}).find_next("p", class_="error")
            assert error.get_text(), (field, value)
            assert page.find("input", attrs={"name": "q"})["value"] == "standup"
            assert page.select("ol.results") == []


def test_pages_keep_the_query_and_filters(app, auth_client, user):
    for n in range(25):
        make_entry(user, title=f"Entry {n}", body="common", tags="t", occurred_at=at(n))
    args = {"q": "common", "tag": "t", "from": "2026-04-01", "to": "2026-12-31"}
    first = auth_client.get("/search", query_string=args)
    assert len(result_titles(first)) == 20
    next_link = soup(first).find("a", rel="next")["href"]
    for part in ("q=common", "tag=t", "from=2026-04-01", "to=2026-12-31", "page=2"):
        assert part in next_link
    second = auth_client.get(next_link)
    assert len(result_titles(second)) == 5
    assert soup(second).find("a", rel="next") is None
    assert soup(second).find("a", rel="prev") is not None
    assert set(result_titles(first)).isdisjoint(result_titles(second))


def test_hostile_queries_never_500(app, auth_client, user):
    make_entry(user, title="Code review", body="We review code.", tags="work")
    for query in HOSTILE_QUERIES:
        for args in ({"q": query}, {"q": f"code {query}", "tag": query}):
            response = auth_client.get("/search", query_string=args)
            assert response.status_code == 200, args
            main = response.get_data(as_text=True).split("<main", 1)[1].split("</main>")[0]
            assert "<script" not in main.lower(), args


@pytest.mark.parametrize("page", ["0", "-5", "x", "999999999999"])
def test_odd_page_numbers_do_not_fail(app, auth_client, user, page):
    make_entry(user, body="common")
    assert auth_client.get(f"/search?q=common&page={page}").status_code == 200


def test_search_after_http_create_edit_delete_restore_purge(app, auth_client, user):
    from daybook.models import Entry
    from daybook.services import search

    auth_client.form(
        "/entries/new",
        {"title": "Journal", "body": "first-draft words", "tags": "alpha", "occurred_at": ""},
    )
    entry = db.session.scalar(db.select(Entry))
    assert result_titles(auth_client.get("/search?q=draft")) == ["Journal"]

    auth_client.form(
        f"/entries/{entry.id}/edit",
        {
            "title": "Journal",
            "body": "final words",
            "tags": "beta",
            "occurred_at": "",
            "version": "1",
        },
    )
    assert result_titles(auth_client.get("/search?q=draft")) == []
    assert result_titles(auth_client.get("/search?q=final")) == ["Journal"]
    assert result_titles(auth_client.get("/search?q=beta")) == ["Journal"]
    assert result_titles(auth_client.get("/search?q=alpha")) == []

    auth_client.form(f"/entries/{entry.id}/delete")
    assert result_titles(auth_client.get("/search?q=final")) == []
    auth_client.form(f"/entries/{entry.id}/restore")
    assert result_titles(auth_client.get("/search?q=final")) == ["Journal"]
    auth_client.form(f"/entries/{entry.id}/delete")
    auth_client.form(f"/entries/{entry.id}/purge")
    assert result_titles(auth_client.get("/search?q=final")) == []
    assert search.index_mismatches() == []
