"""Search: the query language, ranking, snippets, filters, hostile input and an index in step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry
from daybook.services import entries, search, tags, users
from daybook.services.search import Term, parse_query
from tests.databases import SEARCH_TABLE, only_on_postgres
from tests.factories import make_entry, make_user


def titles(user, query: str, **kwargs) -> list[str]:
    return [h.entry.title for h in search.search_entries(user, query, **kwargs).hits]


def found(user, query: str, **kwargs) -> set[str]:
    return set(titles(user, query, **kwargs))


def index_rows() -> int:
    return db.session.scalar(sa.text(f"SELECT count(*) FROM {SEARCH_TABLE}"))


def at(day: int) -> datetime:
    return datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(days=day)


# -- the query language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Hello world", [Term(("hello",)), Term(("world",))]),
        ('"exact phrase" word', [Term(("exact", "phrase")), Term(("word",))]),
        ("-excluded kept", [Term(("excluded",), negated=True), Term(("kept",))]),
        ('-"not this" yes', [Term(("not", "this"), negated=True), Term(("yes",))]),
        ("deplo*", [Term(("deplo",), prefix=True)]),
        ("e-mail", [Term(("e", "mail"))]),
        ("NEAR(a b)", [Term(("near", "a")), Term(("b",))]),
        ("title:secret", [Term(("title", "secret"))]),
        ('"unbalanced', [Term(("unbalanced",))]),
        ('- * ^ "" ()', []),
        ("", []),
    ],
)
def test_parse_query(text, terms):
    assert parse_query(text).terms == terms


def test_parse_query_quotes_every_term_for_the_engine():
    expr = parse_query('alpha "b c" -d e* AND OR NOT').fts()
    assert expr == '("alpha" AND "b c" AND "e"* AND "and" AND "or" AND "not") NOT ("d")'


def test_parse_query_with_only_exclusions_asks_for_nothing():
    assert parse_query("-alone").fts() is None


def test_parse_query_is_bounded():
    parsed = parse_query(" ".join(f"w{i}" for i in range(1000)))
    assert len(parsed.terms) == search.MAX_TERMS


# -- matching and ranking --------------------------------------------------------------------


@pytest.fixture
def corpus(app, user):
    make_entry(
        user,
        title="Deploy day",
        body="We deployed the new search to production.",
        tags="work release",
        occurred_at=at(1),
    )
    make_entry(
        user,
        title="Garden notes",
        body="Planted tomatoes. The deploy can wait.",
        tags="home",
        occurred_at=at(2),
    )
    make_entry(
        user,
        title="Retro",
        body="Talked about the flaky deployment pipeline and code review.",
        tags="work meeting",
        occurred_at=at(3),
    )
    make_entry(
        user,
        title="Reading",
        body="A book on code review culture.",
        tags="learning",
        occurred_at=at(4),
    )
    return user


def test_words_must_all_match(corpus):
    assert found(corpus, "code review") == {"Retro", "Reading"}
    assert found(corpus, "code tomatoes") == set()


def test_quoted_phrases_match_in_order(corpus):
    assert found(corpus, '"review code"') == set()
    assert found(corpus, '"code review culture"') == {"Reading"}


def test_excluded_words(corpus):
    assert found(corpus, "code -flaky") == {"Reading"}
    assert found(corpus, 'code -"review culture"') == {"Retro"}


def test_prefix_matching(corpus):
    assert found(corpus, "tomat*") == {"Garden notes"}
    assert found(corpus, "tomat") == set()


def test_stemming_finds_other_forms(corpus):
    # "deployed" and "deploy" share the stem on both engines; whether "deployment" does too is
    # where SQLite's Porter and PostgreSQL's Snowball stemmers part ways.
    assert found(corpus, "deploying") - {"Retro"} == {"Deploy day", "Garden notes"}


def test_tag_names_are_searchable(corpus):
    assert found(corpus, "release") == {"Deploy day"}
    assert found(corpus, "learning") == {"Reading"}


def test_title_match_ranks_above_body_match(app, user):
    make_entry(
        user, title="Weekly notes", body="Talked about kubernetes at length.", occurred_at=at(5)
    )
    make_entry(user, title="Kubernetes", body="Some notes.", occurred_at=at(1))
    assert titles(user, "kubernetes") == ["Kubernetes", "Weekly notes"]


def test_case_and_accents_are_ignored(app, user):
    make_entry(user, title="Café review", body="Crème brûlée")
    assert found(user, "CAFE") == found(user, "creme brulee") == {"Café review"}


def test_snippets_highlight_and_escape(app, user):
    make_entry(
        user,
        title="Debugging <b>bold</b> & co",
        body="Pasted `<script>alert('x')</script>` into the console while debugging the widget.",
    )
    (hit,) = search.search_entries(user, "debugging").hits
    assert str(hit.title_html) == "<mark>Debugging</mark> &lt;b&gt;bold&lt;/b&gt; &amp; co"
    snippet = str(hit.snippet_html)
    assert "<mark>debugging</mark>" in snippet
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in snippet
    assert "<script" not in snippet


def test_control_characters_typed_into_an_entry_cannot_forge_marks(app, user):
    entry = make_entry(user, title="Forge", body="text \x02`<b>`\x03 more \x02tail\x03")
    (hit,) = search.search_entries(user, "forge").hits
    assert str(hit.title_html) == "<mark>Forge</mark>"
    assert str(hit.snippet_html) == "text &lt;b&gt; more tail"
    # Rows written before titles were checked (or by hand) are cleaned when indexed, too.
    db.session.execute(sa.update(Entry).where(Entry.id == entry.id).values(title="Forge \x02x\x03"))
    db.session.commit()
    search.rebuild_index()
    (hit,) = search.search_entries(user, "forge").hits
    assert str(hit.title_html) == "<mark>Forge</mark>  x "


def test_results_carry_the_entry_and_its_tags(corpus):
    (hit,) = search.search_entries(corpus, "tomatoes").hits
    assert hit.entry.tag_names == ["home"]


# -- filters and pages -----------------------------------------------------------------------


def test_filter_by_tag(corpus):
    assert found(corpus, "review", tag="work") == {"Retro"}
    assert found(corpus, "review", tag="#Learning") == {"Reading"}
    assert found(corpus, "review", tag="nosuch") == set()


def test_filter_by_date_range(corpus):
    assert found(corpus, "the") == {"Deploy day", "Garden notes", "Retro"}
    assert found(corpus, "the", date_from=at(2)) == {"Garden notes", "Retro"}
    assert found(corpus, "the", date_to=at(2)) == {"Deploy day"}
    assert found(corpus, "the", date_from=at(2), date_to=at(3)) == {"Garden notes"}
    assert found(corpus, "the", date_from=at(5)) == set()


def test_date_filters_in_other_zones_are_compared_in_utc(corpus):
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    # 2026-03-03 21:00 in Tokyo is 12:00 UTC, the moment "Garden notes" happened.
    assert found(corpus, "the", date_from=datetime(2026, 3, 3, 21, tzinfo=tokyo)) == {
        "Garden notes",
        "Retro",
    }
    assert found(corpus, "the", date_from=datetime(2026, 3, 3, 21, 1, tzinfo=tokyo)) == {"Retro"}
    assert found(corpus, "the", date_to=datetime(2026, 3, 3, 21, 1, tzinfo=tokyo)) == {
        "Deploy day",
        "Garden notes",
    }


def test_pages(app, user):
    for n in range(45):
        make_entry(user, title=f"entry {n}", body="common word", occurred_at=at(n))
    pages = [search.search_entries(user, "common", page=p) for p in (1, 2, 3, 4)]
    assert [len(p.hits) for p in pages] == [20, 20, 5, 0]
    assert [p.has_next for p in pages] == [True, True, False, False]
    seen = [h.entry.id for p in pages for h in p.hits]
    assert len(set(seen)) == 45


@pytest.mark.parametrize("per_page", [2, 3, 5])
def test_many_matches_are_ranked_a_window_at_a_time_and_every_one_is_reached(
    app, user, monkeypatch, per_page
):
    monkeypatch.setattr(search, "RANK_WINDOW", 6)
    stranger = make_user("carol")
    made = []
    for n in range(14):
        # Every third is a title match, which ranks above the body matches of its window.
        title = f"common {n}" if n % 3 == 0 else f"entry {n}"
        made.append(make_entry(user, title=title, body="common word", occurred_at=at(n)).id)
        make_entry(stranger, title=f"theirs {n}", body="common word")
    pages = []
    for number in range(1, 20):
        result = search.search_entries(user, "common", page=number, per_page=per_page)
        pages.append(result)
        if not result.has_next:
            break
    seen = [h.entry.id for p in pages for h in p.hits]
    assert sorted(seen) == sorted(made)  # every match once, none of carol's
    assert all(p.windowed for p in pages)
    size = 6 // per_page * per_page  # a window holds whole pages
    assert set(seen[:size]) == set(sorted(made)[-size:])  # the newest matches come first
    assert search.search_entries(user, "common", per_page=1).hits[0].entry.title == "common 12"


def test_few_matches_are_ranked_together(app, user, monkeypatch):
    monkeypatch.setattr(search, "RANK_WINDOW", 6)
    for n in range(5):
        make_entry(user, title=f"entry {n}", body="common word", occurred_at=at(n))
    result = search.search_entries(user, "common")
    assert len(result.hits) == 5
    assert not result.windowed and not result.has_next


def test_a_page_past_the_last_window_is_empty(app, user, monkeypatch):
    monkeypatch.setattr(search, "RANK_WINDOW", 4)
    for n in range(6):
        make_entry(user, title=f"entry {n}", body="common word", occurred_at=at(n))
    result = search.search_entries(user, "common", page=9, per_page=2)
    assert result.hits == [] and not result.has_next


def test_empty_query_and_only_exclusions(corpus):
    result = search.search_entries(corpus, "   ")
    assert result.hits == [] and result.message is None
    result = search.search_entries(corpus, "-code")
    assert result.hits == [] and result.message == "Add a word to search for."


HOSTILE_QUERIES = [
    '"unbalanced',
    'un"balanced',
    '""',
    '"',
    "'",
    "NEAR(code review)",
    "code NEAR review",
    "NEAR/2",
    "code AND review",
    "code OR",
    "OR",
    "AND NOT",
    "NOT code",
    "code NOT",
    "^code",
    "code^",
    "title:code",
    "body:review",
    "tags:work",
    "{title body}:code",
    "-",
    "--",
    "-*",
    "*",
    "**",
    "code*review",
    "*code",
    "(",
    ")",
    "(code",
    "code)",
    "+code",
    "code + review",
    "code\x00review",
    "\x00",
    "'; DROP TABLE entry; --",
    "\\",
    "%",
    "_",
    "x" * 5000,
    " ".join(["code"] * 400),
    "🙂",
    "\u202e",
    "c\u0301ode",
    "\x02mark\x03",
    "a" * 100 + "*",
    "- code",
    "-code -review",
    '"code" "',
    '-"',
    "col:umn:filter",
    "rank:1",
    "bm25(entry_fts)",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_fail(corpus, query):
    result = search.search_entries(corpus, query)
    assert isinstance(result.hits, list)


def test_operators_are_plain_words(corpus):
    assert found(corpus, "code OR tomatoes") == set()
    assert found(corpus, "title:retro") == set()
    assert found(corpus, "NOT flaky") == set()
    assert found(corpus, '"code review') == {"Retro", "Reading"}


# -- the index stays right -------------------------------------------------------------------


def test_index_follows_every_change(app, user, other_user):
    entry = make_entry(user, title="Alpha", body="original words", tags="first")
    assert found(user, "original") == {"Alpha"}
    assert search.index_mismatches() == []

    entries.update_entry(
        user, entry.id, expected_version=1, title="Beta", body="revised words", tags="second"
    )
    assert found(user, "original") == set() and found(user, "first") == set()
    assert found(user, "revised") == found(user, "second") == found(user, "beta") == {"Beta"}
    assert search.index_mismatches() == []

    entries.trash_entry(user, entry.id)
    assert found(user, "revised") == set()
    assert search.index_mismatches() == []

    entries.restore_entry(user, entry.id)
    assert found(user, "revised") == {"Beta"}
    assert search.index_mismatches() == []

    tags.rename_tag(user, "second", "renamed")
    assert found(user, "renamed") == {"Beta"} and found(user, "second") == set()
    assert search.index_mismatches() == []

    make_entry(user, title="Gamma", body="other", tags="merged")
    tags.rename_tag(user, "renamed", "merged")
    assert found(user, "merged") == {"Beta", "Gamma"} and found(user, "renamed") == set()
    assert search.index_mismatches() == []

    tags.delete_tag(user, "merged")
    assert found(user, "merged") == set()
    assert search.index_mismatches() == []

    entries.trash_entry(user, entry.id)
    entries.purge_entry(user, entry.id)
    assert found(user, "revised") == set()
    assert search.index_mismatches() == []


@only_on_postgres("where PostgreSQL keeps a row's long values")
def test_an_ordinary_entrys_search_row_stays_whole_in_its_table(app, user):
    # Search tests rows from the newest back; one compressed or moved to TOAST costs a lookup
    # and a decompression each (migration 0007).
    words = " ".join(f"word{n} thought{n * 7}" for n in range(120))  # some 2 kB, a long day
    make_entry(user, title="Long day", body=words, tags="work")
    row = db.session.execute(
        sa.text(
            "SELECT pg_column_compression(document) AS document, "
            "pg_column_compression(body) AS body, octet_length(body) AS length "
            "FROM entry_search"
        )
    ).one()
    assert row.length > 1800
    assert (row.document, row.body) == (None, None)
    toast = db.session.scalar(
        sa.text("SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'entry_search'")
    )
    assert db.session.scalar(sa.text(f"SELECT count(*) FROM {toast}")) == 0  # noqa: S608


def test_index_follows_account_deletion(app, user, other_user):
    make_entry(user, title="Mine", body="shared word")
    trashed = make_entry(user, title="Trashed", body="shared word")
    entries.trash_entry(user, trashed.id)
    make_entry(other_user, title="Theirs", body="shared word")
    users.delete_user(user)
    assert search.index_mismatches() == []
    assert index_rows() == 1
    assert found(other_user, "shared") == {"Theirs"}


def test_index_follows_expired_trash_purge(app, user):
    entry = make_entry(user, title="Old", body="purged word")
    entries.trash_entry(user, entry.id)
    entries.purge_expired_trash(0, now=datetime.now(UTC) + timedelta(seconds=1))
    assert search.index_mismatches() == []


def test_index_mismatches_reports_drift_and_rebuild_repairs_it(app, user):
    make_entry(user, title="Kept", body="alpha")
    lost = make_entry(user, title="Lost", body="beta")
    ghost = make_entry(user, title="Ghost", body="ghost")
    # Drift written behind the services' back: a row gone, a row left for a trashed entry.
    search.unindex_entry(lost.id)
    db.session.execute(
        sa.update(Entry).where(Entry.id == ghost.id).values(deleted_at=datetime.now(UTC))
    )
    db.session.commit()
    assert search.index_mismatches() == sorted([lost.id, ghost.id])
    assert search.rebuild_index() == 2
    assert search.index_mismatches() == []
    assert index_rows() == 2
    assert found(user, "beta") == {"Lost"} and found(user, "alpha") == {"Kept"}


def test_search_never_shows_other_users_entries(app, user):
    stranger = make_user("carol")
    make_entry(stranger, title="Carol's secret", body="needle", tags="needle")
    make_entry(user, title="Mine", body="haystack")
    assert found(user, "needle") == set()
    assert found(user, "needle", tag="needle") == set()
    assert found(stranger, "needle") == {"Carol's secret"}


def test_search_leaves_out_trashed_entries_even_if_indexed(app, user):
    entry = make_entry(user, title="Trashed", body="needle")
    db.session.execute(
        sa.update(Entry).where(Entry.id == entry.id).values(deleted_at=datetime.now(UTC))
    )
    db.session.commit()
    assert found(user, "needle") == set()


@only_on_postgres("entry_search's owner column")
def test_search_rows_carry_their_owner_and_a_wrong_one_is_caught(app, user, other_user):
    mine = make_entry(user, title="Mine", body="harbour lights")
    theirs = make_entry(other_user, title="Theirs", body="harbour lights")
    owners = dict(db.session.execute(sa.text("SELECT entry_id, user_id FROM entry_search")).all())
    assert owners == {mine.id: user.id, theirs.id: other_user.id}

    # Search reads a row's owner from the row (migration 0008); were it ever wrong, the entry
    # must still not reach another user, and the index check must name it.
    db.session.execute(
        sa.text("UPDATE entry_search SET user_id = :other WHERE entry_id = :id"),
        {"other": other_user.id, "id": mine.id},
    )
    assert found(other_user, "harbour") == {"Theirs"}
    assert search.index_mismatches() == [mine.id]


@only_on_postgres("psycopg's prepared statements")
def test_search_is_planned_for_each_word_and_not_prepared(app, user):
    # A prepared search may be given one generic plan for every word, which suits a rare word
    # and made a common one several times slower; other statements are still prepared.
    make_entry(user, title="Harbour", body="harbour lights at dusk")
    connection = db.session.connection().connection.driver_connection
    threshold = connection.prepare_threshold
    for word in ["harbour", "lights", "dusk", "harbour", "zebra", "harbour", "lights", "x"]:
        search.search_entries(user, word)
    prepared = db.session.scalars(sa.text("SELECT statement FROM pg_prepared_statements")).all()
    assert prepared, "the page's other statements are prepared as before"
    assert not [s for s in prepared if "entry_search" in s]
    assert threshold is not None
    assert db.session.connection().connection.driver_connection.prepare_threshold == threshold
