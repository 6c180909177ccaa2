"""What pages show of an entry, read without the ORM: cards for lists, the whole for its page.

A page of cards is read with one plain query (the entries' listed columns and their tag names,
joined into one string) instead of building 20 full Entry objects with their tags: the list page
is the most visited page, and most of its time went into the ORM. An entry's own page and its
edit form, the next most visited, are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, Tag, entry_tag
from daybook.services import markdown

_entries = Entry.__table__.c
_tags = Tag.__table__.c
# Tag names are letters, digits, `.`, `-` and `/` (services.tags.TAG_RE): a comma joins them.
TAG_SEPARATOR = ","
# An entry's tag names in one string, read beside its columns: one statement a page, not two.
# Grouped over a join rather than a correlated subquery, which PostgreSQL ran once a row, each
# time hashing the tag table anew. Their order is set in Python (see _tag_tuple), as
# group_concat and string_agg keep none.
_TAG_LIST = sa.func.aggregate_strings(_tags.name, TAG_SEPARATOR).label("tag_list")


def _joined_tags(entries: sa.FromClause, entry_id: sa.ColumnElement) -> sa.FromClause:
    return entries.outerjoin(entry_tag, entry_tag.c.entry_id == entry_id).outerjoin(
        Tag.__table__, _tags.id == entry_tag.c.tag_id
    )


def _tag_tuple(joined: str | None) -> tuple[str, ...]:
    return tuple(sorted(joined.split(TAG_SEPARATOR))) if joined else ()


# Table columns, not mapped attributes: a statement without ORM entities skips the ORM's
# compile and result stages, which cost more than SQLite's own work here.
CARD_COLUMNS = (
    _entries.id,
    _entries.title,
    _entries.occurred_at,
    _entries.word_count,
    _entries.excerpt,
)


@dataclass(frozen=True, slots=True)
class EntryCard:
    """A card's fields. Frozen and hashable: the drawn HTML is kept under the card itself."""

    id: int
    title: str
    occurred_at: datetime
    word_count: int
    excerpt: str
    tag_names: tuple[str, ...]


SHOWN_COLUMNS = (
    _entries.id,
    _entries.title,
    _entries.body,
    _entries.body_html,
    _entries.occurred_at,
    _entries.created_at,
    _entries.updated_at,
    _entries.word_count,
    _entries.version,
)


@dataclass(frozen=True, slots=True)
class ShownEntry:
    """What an entry's page and its edit form show of it."""

    id: int
    title: str
    body: str
    body_html: str
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime | None
    word_count: int
    version: int
    tag_names: tuple[str, ...]

    @classmethod
    def of(cls, entry: Entry) -> ShownEntry:
        return cls(
            *(getattr(entry, column.key) for column in SHOWN_COLUMNS),
            tag_names=tuple(entry.tag_names),
        )


def select_shown() -> sa.Select:
    """Return a SELECT of an entry's SHOWN_COLUMNS, its tags and its render_version, to be
    filtered down to one entry and passed to read_shown."""
    # Grouped by the primary key, the entry's other columns are one value each.
    return (
        sa.select(*SHOWN_COLUMNS, _TAG_LIST, _entries.render_version)
        .select_from(_joined_tags(Entry.__table__, _entries.id))
        .group_by(_entries.id)
    )


def read_shown(query: sa.Select, params: dict) -> ShownEntry | None:
    """Run a SELECT made by select_shown(); return the entry it finds.

    None also when the entry was rendered by an older renderer: the caller then takes the
    ORM path, which renders it afresh.
    """
    row = db.session.execute(query, params).first()
    if row is None or row[-1] != markdown.RENDER_VERSION:
        return None
    return ShownEntry(*row[:-2], tag_names=_tag_tuple(row[-2]))


def select_cards() -> sa.Select:
    """Return a SELECT of the card columns of entries, to be filtered, ordered and limited, and
    then passed through with_tags."""
    return sa.select(*CARD_COLUMNS)


def with_tags(query: sa.Select) -> sa.Select:
    """Return a SELECT of the cards of select_cards()'s `query` with their tags, newest first.

    The tags are joined outside `query`, so only the rows its LIMIT keeps are joined, not the
    ones its OFFSET skips.
    """
    cards = query.subquery("cards")
    return (
        sa.select(cards, _TAG_LIST)
        .select_from(_joined_tags(cards, cards.c.id))
        .group_by(*cards.c)
        .order_by(cards.c.occurred_at.desc(), cards.c.id.desc())
    )


def read_cards(query: sa.Select, params: dict | None = None) -> list[EntryCard]:
    """Run a query made by with_tags(); return its cards, in its order, with their tags."""
    rows = db.session.execute(query, params).all()
    return [EntryCard(*row[:-1], tag_names=_tag_tuple(row[-1])) for row in rows]


_CARDS_BY_ID = with_tags(
    sa.select(*CARD_COLUMNS).where(_entries.id.in_(sa.bindparam("entry_ids", expanding=True)))
)


def cards_by_id(entry_ids: list[int]) -> dict[int, EntryCard]:
    """Return the cards of these entries by id (missing ids are left out)."""
    if not entry_ids:
        return {}
    return {c.id: c for c in read_cards(_CARDS_BY_ID, {"entry_ids": entry_ids})}


_TAG_NAMES = (
    sa.select(entry_tag.c.entry_id, _tags.name)
    .join(Tag.__table__, _tags.id == entry_tag.c.tag_id)
    .where(entry_tag.c.entry_id.in_(sa.bindparam("entry_ids", expanding=True)))
    .order_by(_tags.name)
)


def tag_names_of(entry_ids: list[int]) -> dict[int, list[str]]:
    """Return tag names by entry id, in name order, in one query."""
    result: dict[int, list[str]] = {i: [] for i in entry_ids}
    if not entry_ids:
        return result
    rows = db.session.execute(_TAG_NAMES, {"entry_ids": entry_ids})
    for entry_id, name in rows:
        result[entry_id].append(name)
    return result
