"""Entry cards: what list and search pages show of an entry, read without the ORM.

A page of cards is read with two plain queries (the entries' listed columns, then their tag
names) instead of building 20 full Entry objects with their tags: the list page is the most
visited page, and most of its time went into the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, Tag, entry_tag

CARD_COLUMNS = (Entry.id, Entry.title, Entry.occurred_at, Entry.word_count, Entry.excerpt)


@dataclass(frozen=True, slots=True)
class EntryCard:
    """A card's fields. Frozen and hashable: the drawn HTML is kept under the card itself."""

    id: int
    title: str
    occurred_at: datetime
    word_count: int
    excerpt: str
    tag_names: tuple[str, ...]


def select_cards() -> sa.Select:
    """Return a SELECT of the card columns of entries, to be filtered and ordered."""
    return sa.select(*CARD_COLUMNS)


def read_cards(query: sa.Select) -> list[EntryCard]:
    """Run a query made from select_cards(); return its cards, in its order, with their tags."""
    rows = db.session.execute(query).all()
    names = tag_names_of([row.id for row in rows])
    return [EntryCard(*row, tag_names=tuple(names[row.id])) for row in rows]


def cards_by_id(entry_ids: list[int]) -> dict[int, EntryCard]:
    """Return the cards of these entries by id (missing ids are left out)."""
    if not entry_ids:
        return {}
    return {c.id: c for c in read_cards(select_cards().where(Entry.id.in_(entry_ids)))}


def tag_names_of(entry_ids: list[int]) -> dict[int, list[str]]:
    """Return tag names by entry id, in name order, in one query."""
    result: dict[int, list[str]] = {i: [] for i in entry_ids}
    if not entry_ids:
        return result
    rows = db.session.execute(
        sa.select(entry_tag.c.entry_id, Tag.name)
        .join(Tag, Tag.id == entry_tag.c.tag_id)
        .where(entry_tag.c.entry_id.in_(entry_ids))
        .order_by(Tag.name)
    )
    for entry_id, name in rows:
        result[entry_id].append(name)
    return result
