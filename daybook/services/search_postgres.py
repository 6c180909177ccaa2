"""The PostgreSQL search backend: `entry_search` with a generated tsvector, a GIN index over it.

Migration 0003 creates the table and the `daybook_english` text search configuration (English
stems, accents folded, no stop words), so that the same queries find the same entries as FTS5.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from daybook.database import planned_each_time
from daybook.extensions import db
from daybook.services.search import CLOSE, OPEN, OWNED_LIVE, ParsedQuery

CONFIG = "'daybook_english'"
# Title, tags and body carry weights A, B and C (D is unused): the same 10 : 5 : 1 as bm25's on
# SQLite.
WEIGHTS = "'{0.1, 0.1, 0.5, 1.0}'"
SNIPPET_WORDS = 24
_TITLE_OPTIONS = f"StartSel={OPEN}, StopSel={CLOSE}, HighlightAll=true"
# One fragment of 24 words around the best match is the window FTS5's snippet() shows; with no
# match in the body, the first 23 words.
_BODY_OPTIONS = (
    f"StartSel={OPEN}, StopSel={CLOSE}, MaxFragments=1, MaxWords={SNIPPET_WORDS}, "
    f"MinWords={SNIPPET_WORDS - 1}, ShortWord=0"
)
# PostgreSQL's parser reads URLs, e-mail addresses, paths, versions and HTML tags as single tokens
# (and leaves tags out of headlines); FTS5 splits at every character that is not a letter or
# digit. A separator on each side of such a character makes PostgreSQL split there too. It is a
# control character, which index_entry has already taken out of the entry's own text.
_SEPARATOR = "\x01"
_PUNCTUATION = re.compile(r"[^\w\s]")
_WORD = re.compile(r"\w")


def _separated(text: str) -> str:
    return _PUNCTUATION.sub(lambda m: _SEPARATOR + m.group() + _SEPARATOR, text)


def write(entry_id: int, title: str, body: str, tags: str) -> None:
    """Insert or replace the entry's row in the index."""
    db.session.execute(
        sa.text(
            # The owner is read from the entry, which is written first (the foreign key needs it).
            "INSERT INTO entry_search (entry_id, user_id, title, body, tags) "
            "VALUES (:id, (SELECT user_id FROM entry WHERE id = :id), :title, :body, :tags) "
            "ON CONFLICT (entry_id) DO UPDATE "
            "SET title = excluded.title, body = excluded.body, tags = excluded.tags"
        ),
        {
            "id": entry_id,
            "title": _separated(title),
            "body": _separated(body),
            "tags": _separated(tags),
        },
    )


def remove(entry_id: int) -> None:
    """Delete the entry's row from the index."""
    db.session.execute(sa.text("DELETE FROM entry_search WHERE entry_id = :id"), {"id": entry_id})


def remove_user(user_id: int) -> None:
    """Delete the rows of all of a user's entries."""
    db.session.execute(sa.text("DELETE FROM entry_search WHERE user_id = :u"), {"u": user_id})


def clear() -> None:
    """Empty the index."""
    db.session.execute(sa.text("DELETE FROM entry_search"))


def mismatches() -> list[int]:
    """Return ids of live entries missing from the index and of rows with no live entry."""
    missing = db.session.scalars(
        sa.text(
            "SELECT id FROM entry WHERE deleted_at IS NULL "
            "AND id NOT IN (SELECT entry_id FROM entry_search)"
        )
    )
    # A row whose owner is not its entry's would show the entry in another user's searches.
    stray = db.session.scalars(
        sa.text(
            "SELECT s.entry_id FROM entry_search s WHERE NOT EXISTS (SELECT 1 FROM entry e "
            "WHERE e.id = s.entry_id AND e.deleted_at IS NULL AND e.user_id = s.user_id)"
        )
    )
    return sorted([*missing, *stray])


def tsquery(parsed: ParsedQuery) -> tuple[str, dict[str, str]]:
    """Return the tsquery for a parsed query as SQL with bound values.

    Words, phrases and exclusions go to websearch_to_tsquery, each quoted, so that `or` and `-`
    inside them stay words; prefix terms become `word:*` for to_tsquery. The words come from
    parse_query, letters and digits only, so they cannot be read as either function's syntax.
    """
    parts: list[str] = []
    params: dict[str, str] = {}
    plain = [t for t in parsed.terms if not t.prefix]
    if plain:
        parts.append(f"websearch_to_tsquery({CONFIG}, :search_web)")
        params["search_web"] = " ".join(
            ("-" if t.negated else "") + '"' + " ".join(t.words) + '"' for t in plain
        )
    for n, term in enumerate(t for t in parsed.terms if t.prefix):
        words = [part for word in term.words for part in word.split("_") if part]
        if not words:
            continue
        name = f"search_prefix_{n}"
        query = f"to_tsquery({CONFIG}, :{name})"
        parts.append(f"(!!{query})" if term.negated else query)
        params[name] = " <-> ".join(words) + ":*"
    return "(" + " && ".join(parts or ["''::tsquery"]) + ")", params


def ranked_window(
    parsed: ParsedQuery,
    filters: list[str],
    params: dict[str, object],
    *,
    start: int,
    size: int,
    limit: int,
    offset: int,
) -> tuple[list[tuple[int, str, str]], int]:
    """Rank the window of the `size` newest matches after `start`; return `limit` of them after
    `offset`, best first, as (entry id, marked title, marked snippet), and how many matches the
    window holds, counting one more when older matches lie beyond it.

    The user's id is `params["uid"]`; `filters` are fixed SQL conditions on the entry `e`, with
    their values in `params`.
    """
    query, query_params = tsquery(parsed)
    # Rows exist only for live entries, each with its owner's id: the walk backwards by entry
    # id reads entry_search alone, and joins the entry only to apply the caller's filters.
    narrowed = ""
    if filters:
        condition = " AND ".join(filters)  # fixed fragments; their values are bound
        narrowed = f"AND EXISTS (SELECT 1 FROM entry e WHERE e.id = s.entry_id AND {condition}) "  # noqa: S608
    # One statement: the window's ids never travel to Python and back. `newest` stops after
    # the window and one more; the ranking reads only the window, and joins the entry for its
    # date (and, to be safe, its owner and state again); headlines read the whole text, so they
    # are made for the page's hits only. The outer join answers one row even when the page is
    # empty, to carry the count.
    sql = sa.text(
        "WITH newest AS ("  # noqa: S608 - fixed fragments; every value is a bound parameter
        "SELECT s.entry_id FROM entry_search s "
        f"WHERE s.user_id = :uid AND s.document @@ {query} {narrowed}"
        "ORDER BY s.entry_id DESC LIMIT :count OFFSET :start), "
        "hits AS ("
        "SELECT s.entry_id, s.title, s.body, e.occurred_at, "
        f"ts_rank_cd({WEIGHTS}, s.document, {query}) AS rank "
        "FROM (SELECT entry_id FROM newest ORDER BY entry_id DESC LIMIT :size) w "
        "JOIN entry_search s ON s.entry_id = w.entry_id "
        f"JOIN entry e ON e.id = w.entry_id AND {OWNED_LIVE} "
        "ORDER BY rank DESC, e.occurred_at DESC, s.entry_id DESC LIMIT :limit OFFSET :offset) "
        "SELECT n.found, h.entry_id, h.body, "
        f"ts_headline({CONFIG}, h.title, {query}, :title_options) AS title_hl, "
        f"ts_headline({CONFIG}, h.body, {query}, :body_options) AS body_snip "
        "FROM (SELECT count(*) AS found FROM newest) n LEFT JOIN hits h ON true "
        "ORDER BY h.rank DESC, h.occurred_at DESC, h.entry_id DESC"
    )
    values = {
        **params,
        **query_params,
        "count": size + 1,
        "start": start,
        "size": size,
        "limit": limit,
        "offset": offset,
        "title_options": _TITLE_OPTIONS,
        "body_options": _BODY_OPTIONS,
    }
    with planned_each_time():
        result = db.session.execute(sql, values).all()
    rows = [
        (r.entry_id, _joined(r.title_hl), _snippet(r.body_snip, r.body))
        for r in result
        if r.entry_id is not None
    ]
    return rows, result[0].found if result else 0


def _joined(text: str) -> str:
    return text.replace(_SEPARATOR, "")


def _snippet(headline: str, body: str) -> str:
    # ts_headline marks no cut, and a fragment ends at its last word. Like FTS5's snippet(),
    # show an ellipsis where words were left out, and the punctuation that ends the text.
    headline, body = _joined(headline).strip(), _joined(body)
    shown = headline.replace(OPEN, "").replace(CLOSE, "")
    start = body.find(shown)
    if start < 0:
        return headline
    before, after = body[:start], body[start + len(shown) :]
    before = "…" if _WORD.search(before) else before.lstrip()
    after = "…" if _WORD.search(after) else after.rstrip()
    return before + headline + after


def matching_ids(parsed: ParsedQuery) -> sa.Select:
    """Return a SELECT of the ids of entries matching the query."""
    query, params = tsquery(parsed)
    matching = sa.select(sa.literal_column("entry_id")).select_from(sa.table("entry_search"))
    return matching.where(sa.text(f"document @@ {query}").bindparams(**params))
