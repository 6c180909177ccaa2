"""GET /entries: keyset cursor pages in every sort, and the tag, q, from and to filters."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry
from tests.api.conftest import API, assert_entry, assert_problem
from tests.factories import make_entry

BASE = datetime(2026, 1, 1, 12, tzinfo=UTC)


def walk(api, url: str) -> tuple[list[dict], int]:
    """Follow `next` links to the end; return every entry seen and how many pages."""
    seen: list[dict] = []
    pages = 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert set(body) == {"entries", "next"}
        seen.extend(body["entries"])
        pages += 1
        url = body["next"]
        assert pages < 100
    return seen, pages


@pytest.fixture
def many(user, other_user):
    """25 entries: several share an occurred_at (ties are broken by id), updated in shuffled order."""
    made = []
    for n in range(25):
        moment = BASE + timedelta(hours=n // 3)  # three entries an hour: ties on purpose
        made.append(make_entry(user, title=f"e{n}", occurred_at=moment))
    make_entry(other_user, title="not alice's", occurred_at=BASE)
    # Give updated_at an order of its own, with ties too.
    for n, entry in enumerate(made):
        entry.updated_at = BASE + timedelta(minutes=(n * 7) % 10)
    db.session.commit()
    return made


def expected_order(made: list[Entry], column: str, descending: bool) -> list[int]:
    db.session.expire_all()
    rows = [(getattr(db.session.get(Entry, e.id), column), e.id) for e in made]
    return [i for _v, i in sorted(rows, reverse=descending)]


@pytest.mark.parametrize(
    ("sort", "column", "descending"),
    [
        ("-occurred_at", "occurred_at", True),
        ("occurred_at", "occurred_at", False),
        ("-updated_at", "updated_at", True),
        ("updated_at", "updated_at", False),
    ],
)
@pytest.mark.parametrize("limit", [1, 4, 7, 25, 100])
def test_cursor_walks_every_entry_once_in_order(api, many, sort, column, descending, limit):
    seen, pages = walk(api, f"/entries?sort={sort}&limit={limit}")
    assert [e["id"] for e in seen] == expected_order(many, column, descending)
    assert pages == -(-25 // limit)  # no empty last page, even when 25 divides evenly


def test_default_is_newest_first_twenty_a_page(api, many):
    body = api.get("/entries").get_json()
    assert len(body["entries"]) == 20
    assert [e["id"] for e in body["entries"]] == expected_order(many, "occurred_at", True)[:20]
    for entry in body["entries"]:
        assert_entry(entry)
    link = urlsplit(body["next"])
    assert link.path == f"{API}/entries"
    assert set(parse_qs(link.query)) == {"cursor"}


def test_next_is_null_on_the_last_page(api, many):
    body = api.get("/entries?limit=25").get_json()
    assert len(body["entries"]) == 25
    assert body["next"] is None
    assert api.get("/entries?limit=100").get_json()["next"] is None


def test_empty_list(api):
    assert api.get("/entries").get_json() == {"entries": [], "next": None}


def test_next_keeps_the_filters_and_sort(api, user):
    for n in range(5):
        make_entry(user, title=f"t{n}", tags="keep", occurred_at=BASE + timedelta(days=n))
    make_entry(user, title="other", occurred_at=BASE)
    body = api.get("/entries?tag=keep&sort=occurred_at&limit=2").get_json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["tag"] == ["keep"]
    assert query["sort"] == ["occurred_at"]
    assert query["limit"] == ["2"]
    seen, _pages = walk(api, "/entries?tag=keep&sort=occurred_at&limit=2")
    assert [e["title"] for e in seen] == ["t0", "t1", "t2", "t3", "t4"]


def test_entries_written_during_a_walk_do_not_repeat_or_vanish(api, user):
    made = [make_entry(user, title=f"e{n}", occurred_at=BASE + timedelta(days=n)) for n in range(6)]
    first = api.get("/entries?limit=3").get_json()
    make_entry(user, title="newest", occurred_at=BASE + timedelta(days=100))  # before the cursor
    rest, _ = walk(api, first["next"])
    ids = [e["id"] for e in first["entries"] + rest]
    assert ids == [e.id for e in reversed(made)]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", 1]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "1"]').decode(),
        base64.urlsafe_b64encode(
            json.dumps(["2026-01-01T00:00:00+00:00", 10**30]).encode()
        ).decode(),
        base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", 1]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["9999-12-31T23:59:59-14:00", 1]).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_cursor_is_422(api, user, cursor):
    make_entry(user)
    body = assert_problem(api.get(f"/entries?cursor={cursor}"), 422)
    assert body["errors"] == {"cursor": "This cursor is not one Daybook gave out."}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("sort=title", "sort"),
        ("from=2026-01-01", "from"),
        ("from=2026-01-01T00:00:00", "from"),
        ("to=soon", "to"),
        ("to=0001-01-01T00:00:00%2B14:00", "to"),
        ("page=2", "page"),
        ("cursor=" + "x" * 201, "cursor"),
    ],
)
def test_bad_query_parameters_are_422(api, query, field):
    body = assert_problem(api.get(f"/entries?{query}"), 422)
    assert field in body["errors"], body


def test_filter_by_tag(api, user):
    make_entry(user, title="work one", tags="work")
    make_entry(user, title="both", tags="work life")
    make_entry(user, title="life", tags="life")
    titles = {e["title"] for e in api.get("/entries?tag=work").get_json()["entries"]}
    assert titles == {"work one", "both"}
    assert {e["title"] for e in api.get("/entries?tag=%23Work").get_json()["entries"]} == titles
    assert api.get("/entries?tag=nothing").get_json()["entries"] == []


def test_filter_by_words(api, user):
    make_entry(user, title="Deploy day", body="Rolled out the release")
    make_entry(user, title="Walk", body="Rain")
    body = api.get("/entries?q=release").get_json()
    assert [e["title"] for e in body["entries"]] == ["Deploy day"]
    assert api.get("/entries?q=-").get_json()["entries"] == []


def test_filter_by_time(api, user):
    for day in range(1, 6):
        make_entry(user, title=f"day {day}", occurred_at=datetime(2026, 5, day, 12, tzinfo=UTC))
    body = api.get(
        "/entries?from=2026-05-02T12:00:00Z&to=2026-05-04T12:00:00Z&sort=occurred_at"
    ).get_json()
    # from is inclusive, to exclusive.
    assert [e["title"] for e in body["entries"]] == ["day 2", "day 3"]
    # Offsets are honoured: 2026-05-05T00:00+12:00 is 2026-05-04T12:00Z.
    body = api.get("/entries?from=2026-05-05T00:00:00%2B12:00&sort=occurred_at").get_json()
    assert [e["title"] for e in body["entries"]] == ["day 4", "day 5"]


def test_trashed_entries_are_not_listed(api, user):
    keep = make_entry(user, title="keep")
    gone = make_entry(user, title="gone")
    api.delete(f"/entries/{gone.id}")
    assert [e["id"] for e in api.get("/entries").get_json()["entries"]] == [keep.id]


def test_list_uses_a_fixed_number_of_queries(api, user, app):
    # Tags come in one query for the page, not one per entry.
    for n in range(30):
        make_entry(user, title=f"e{n}", tags=f"t{n} shared")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    api.get("/entries")  # the token's last use is recorded at most once a minute: not now
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        small = api.get("/entries?limit=2")
        n_small = len(statements)
        statements.clear()
        large = api.get("/entries?limit=30")
        n_large = len(statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert small.status_code == large.status_code == 200
    assert n_large == n_small
