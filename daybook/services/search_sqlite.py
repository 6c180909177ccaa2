"""The SQLite search backend: an FTS5 table `entry_fts` (rowid = entry.id), ranked by bm25."""

from __future__ import annotations

import sqlalchemy as sa

from daybook.extensions import db
from daybook.services.search import CLOSE, OPEN, OWNED_LIVE, ParsedQuery


def write(entry_id: int, title: str, body: str, tags: str) -> None:
    """Replace the entry's row in the index."""
    remove(entry_id)
    db.session.execute(
        sa.text(
            "INSERT INTO entry_fts (rowid, title, body, tags) VALUES (:id, :title, :body, :tags)"
        ),
        {"id": entry_id, "title": title, "body": body, "tags": tags},
    )


def remove(entry_id: int) -> None:
    """Delete the entry's row from the index."""
    db.session.execute(sa.text("DELETE FROM entry_fts WHERE rowid = :id"), {"id": entry_id})


def remove_user(user_id: int) -> None:
    """Delete the rows of all of a user's entries."""
    db.session.execute(
        sa.text("DELETE FROM entry_fts WHERE rowid IN (SELECT id FROM entry WHERE user_id = :u)"),
        {"u": user_id},
    )


def clear() -> None:
    """Empty the index."""
    db.session.execute(sa.text("DELETE FROM entry_fts"))


def mismatches() -> list[int]:
    """Return ids of live entries missing from the index and of rows with no live entry."""
    missing = db.session.scalars(
        sa.text(
            "SELECT id FROM entry WHERE deleted_at IS NULL AND id NOT IN (SELECT rowid FROM entry_fts)"
        )
    )
    stray = db.session.scalars(
        sa.text(
            "SELECT rowid FROM entry_fts WHERE rowid NOT IN (SELECT id FROM entry WHERE deleted_at IS NULL)"
        )
    )
    return sorted([*missing, *stray])


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
    query = parsed.fts()
    where = " AND ".join([OWNED_LIVE, *filters])
    # FTS5 walks its matches backwards by rowid and stops after the window and one more.
    newest = sa.text(
        "SELECT e.id FROM entry_fts JOIN entry e ON e.id = entry_fts.rowid "  # noqa: S608
        f"WHERE entry_fts MATCH :q AND {where} "
        "ORDER BY entry_fts.rowid DESC LIMIT :count OFFSET :start"
    )
    ids = db.session.scalars(newest, {**params, "q": query, "count": size + 1, "start": start})
    window = ids.all()
    found = len(window)
    window = window[:size]
    if not window:
        return [], found
    # Rank first, then mark up only the page's rows: highlight() and snippet() cost more than
    # bm25() and would otherwise run for every match. FTS5 walks a rowid range within its index;
    # the condition leaves out other users' rows.
    order = sa.text(
        "SELECT e.id FROM entry_fts JOIN entry e ON e.id = entry_fts.rowid "  # noqa: S608
        f"WHERE entry_fts MATCH :q AND entry_fts.rowid BETWEEN :low AND :high AND {where} "
        "ORDER BY bm25(entry_fts, 10.0, 1.0, 5.0), e.occurred_at DESC LIMIT :limit OFFSET :offset"
    )
    values = {**params, "q": query, "low": min(window), "high": max(window), "limit": limit}
    ranked = db.session.scalars(order, {**values, "offset": offset}).all()
    if not ranked:
        return [], found
    # FTS5 walks the matches once over the range; `+rowid IN` only filters them. A plain
    # `rowid IN` would run the whole match once per id.
    marked = sa.text(
        "SELECT rowid AS id, highlight(entry_fts, 0, :o, :c) AS title_hl, "
        "snippet(entry_fts, 1, :o, :c, '…', 24) AS body_snip FROM entry_fts "
        "WHERE entry_fts MATCH :q AND rowid BETWEEN :low AND :high AND +rowid IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    rows = db.session.execute(
        marked,
        {"q": query, "o": OPEN, "c": CLOSE, "low": min(ranked), "high": max(ranked), "ids": ranked},
    )
    by_id = {r.id: (r.id, r.title_hl, r.body_snip) for r in rows}
    return [by_id[i] for i in ranked if i in by_id], found


def matching_ids(parsed: ParsedQuery) -> sa.Select:
    """Return a SELECT of the ids of entries matching the query."""
    matching = sa.select(sa.literal_column("rowid")).select_from(sa.table("entry_fts"))
    return matching.where(sa.text("entry_fts MATCH :fts_q").bindparams(fts_q=parsed.fts()))
