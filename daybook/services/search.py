"""Full-text search: the index kept beside the entries, the query language and ranked results.

The index itself lives in a backend module per database, with the same functions:
search_sqlite (FTS5) and search_postgres (tsvector + GIN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType

import sqlalchemy as sa
from markupsafe import Markup, escape

from daybook.extensions import db
from daybook.models import Entry, User
from daybook.services import markdown
from daybook.services.entry_cards import EntryCard, cards_by_id, tag_names_of

MAX_QUERY_LENGTH = 500
MAX_TERMS = 30
PER_PAGE = 20
# Matches ranked together: the newest this many, then the next this many on later pages.
# Ranking costs time per match, and a common word in a long journal matches tens of thousands:
# on PostgreSQL, finding and ranking the newest 1,000 of 10,000 matches took 80 ms, 200 took 10.
RANK_WINDOW = 200
# What every search keeps to, whatever else it asks: the user's own entries, not in the trash.
OWNED_LIVE = "e.user_id = :uid AND e.deleted_at IS NULL"
OPEN, CLOSE = "\x02", "\x03"  # never typed; turned into <mark> after escaping
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")
# Control characters are no words, and the two marker characters must never come from an entry.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    negated: bool = False
    prefix: bool = False

    def fts(self) -> str:
        return '"' + " ".join(self.words) + '"' + ("*" if self.prefix else "")


@dataclass
class ParsedQuery:
    terms: list[Term] = field(default_factory=list)

    @property
    def positive(self) -> list[Term]:
        return [t for t in self.terms if not t.negated]

    @property
    def negative(self) -> list[Term]:
        return [t for t in self.terms if t.negated]

    def fts(self) -> str | None:
        """Return the FTS5 expression, or None when nothing positive is asked for."""
        if not self.positive:
            return None
        expr = " AND ".join(t.fts() for t in self.positive)
        if self.negative:
            expr = f"({expr}) NOT ({' OR '.join(t.fts() for t in self.negative)})"
        return expr


def parse_query(text: str) -> ParsedQuery:
    """Parse words, "quoted phrases", -exclusions and prefix* into terms; never fails.

    Anything else (operators, brackets, stray quotes) is read as plain words, so no input can
    reach the engine as syntax.
    """
    parsed = ParsedQuery()
    for match in _TOKEN.finditer((text or "")[:MAX_QUERY_LENGTH]):
        neg_phrase, phrase, bare = match.groups()
        if bare is not None:
            negated = bare.startswith("-") and len(bare) > 1
            raw = bare[1:] if negated else bare
            words = tuple(w.lower() for w in _WORD.findall(raw))
            prefix = raw.endswith("*") and bool(words)
            if words:
                parsed.terms.append(Term(words, negated, prefix))
        else:
            words = tuple(w.lower() for w in _WORD.findall(phrase or ""))
            if words:
                parsed.terms.append(Term(words, bool(neg_phrase)))
        if len(parsed.terms) >= MAX_TERMS:
            break
    return parsed


# -- the index -------------------------------------------------------------------------------


def _backend() -> ModuleType:
    """Return the module that keeps the index on this database: FTS5 or a tsvector."""
    from daybook.services import search_postgres, search_sqlite

    return search_sqlite if db.session.get_bind().dialect.name == "sqlite" else search_postgres


def index_entry(
    entry: Entry, *, plain_body: str | None = None, tags: list[str] | None = None
) -> None:
    """Write an entry's row in the search index, inside the caller's transaction."""
    body = markdown.plain_text(entry.body) if plain_body is None else plain_body
    _backend().write(
        entry.id,
        _CONTROL.sub(" ", entry.title),
        _CONTROL.sub(" ", body),
        " ".join(entry.tag_names if tags is None else tags),
    )


def unindex_entry(entry_id: int) -> None:
    """Remove an entry from the search index, inside the caller's transaction."""
    _backend().remove(entry_id)


def unindex_user(user_id: int) -> None:
    """Remove all of a user's entries from the search index."""
    _backend().remove_user(user_id)


def reindex_entries(entry_ids: list[int]) -> None:
    """Re-index these entries (after their tags changed), skipping those in the trash."""
    if not entry_ids:
        return
    names = tag_names_of(entry_ids)
    for entry in db.session.scalars(sa.select(Entry).where(Entry.id.in_(entry_ids))):
        if entry.deleted_at is None:
            index_entry(entry, tags=names[entry.id])


def rebuild_index() -> int:
    """Rebuild the whole index from the entries table; return how many entries it holds."""
    _backend().clear()
    count = 0
    for entry in db.session.scalars(sa.select(Entry).where(Entry.deleted_at.is_(None))):
        index_entry(entry)
        count += 1
    db.session.commit()
    return count


def index_mismatches() -> list[int]:
    """Return ids of live entries missing from the index and index rows with no live entry."""
    return _backend().mismatches()


# -- queries ---------------------------------------------------------------------------------


@dataclass
class Hit:
    entry: Entry | EntryCard
    title_html: Markup
    snippet_html: Markup


@dataclass
class SearchResult:
    hits: list[Hit]
    page: int
    has_next: bool
    message: str | None = None
    # More than RANK_WINDOW entries match: hits are ranked among the newest of them, and later
    # pages go back through older matches.
    windowed: bool = False


def _naive_utc(moment: datetime) -> datetime:
    # The raw query compares with stored values, which are naive UTC (see models.base.UTCDateTime).
    return moment.astimezone(UTC).replace(tzinfo=None)


def _marked(text: str) -> Markup:
    # Escaped first, so the only tags are the marks made from the two marker characters.
    return Markup(str(escape(text)).replace(OPEN, "<mark>").replace(CLOSE, "</mark>"))  # noqa: S704


def search_entries(
    user: User,
    query: str,
    *,
    tag: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    full_entries: bool = True,
) -> SearchResult:
    """Return the user's live entries matching a query, best first, with highlighted snippets.

    Each hit carries its Entry, or with `full_entries=False` only its card (what a page shows).
    """
    parsed = parse_query(query)
    if not parsed.positive:
        message = "Add a word to search for." if (query or "").strip() else None
        return SearchResult([], page, False, message)
    page = max(1, page)
    filters: list[str] = []  # besides OWNED_LIVE, which every backend applies
    params: dict[str, object] = {"uid": user.id}
    if date_from is not None:
        filters.append("e.occurred_at >= :dfrom")
        params["dfrom"] = _naive_utc(date_from)
    if date_to is not None:
        filters.append("e.occurred_at < :dto")
        params["dto"] = _naive_utc(date_to)
    if tag:
        filters.append(
            "e.id IN (SELECT et.entry_id FROM entry_tag et JOIN tag t ON t.id = et.tag_id "
            "WHERE t.user_id = :uid AND t.name = :tag)"
        )
        params["tag"] = tag.strip().lstrip("#").lower()
    backend = _backend()
    # A window holds whole pages, so that no page straddles two of them.
    pages_a_window = max(1, RANK_WINDOW // per_page)
    size = pages_a_window * per_page
    window, page_in_window = divmod(page - 1, pages_a_window)
    skip = page_in_window * per_page
    # The filters are fixed fragments above; every value is a bound parameter.
    rows, found = backend.ranked_window(
        parsed, filters, params, start=window * size, size=size, limit=per_page, offset=skip
    )
    ids = [r[0] for r in rows]
    by_id: dict[int, Entry | EntryCard] = (
        {e.id: e for e in db.session.scalars(sa.select(Entry).where(Entry.id.in_(ids)))}
        if full_entries
        else cards_by_id(ids)
    )
    hits = [
        Hit(by_id[entry_id], _marked(title), _marked(snippet))
        for entry_id, title, snippet in rows
        if entry_id in by_id
    ]
    # `found` counts the window's matches and one more if older ones exist: either way there
    # is a next page when it goes past this one.
    has_next = found > skip + per_page
    return SearchResult(hits, page, has_next, windowed=found > size or window > 0)


def match_clause(query: str) -> sa.ColumnElement[bool]:
    """Return a filter on Entry for entries matching a query (nothing for an empty query)."""
    parsed = parse_query(query)
    if not parsed.positive:
        return sa.false()
    return Entry.id.in_(_backend().matching_ids(parsed))
