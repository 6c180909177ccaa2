"""Walking a user's entries page by page with an opaque cursor (keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from daybook.errors import ValidationError
from daybook.extensions import db
from daybook.models import Entry, User
from daybook.models.base import MAX_ID
from daybook.services import entries, search

SORTS = {
    "-occurred_at": (Entry.occurred_at, True),
    "occurred_at": (Entry.occurred_at, False),
    "-updated_at": (Entry.updated_at, True),
    "updated_at": (Entry.updated_at, False),
}


@dataclass
class CursorPage:
    items: list[Entry]
    next_cursor: str | None


def _encode(entry: Entry, column_name: str) -> str:
    value: datetime = getattr(entry, column_name)
    raw = json.dumps([value.isoformat(), entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, entry_id = json.loads(raw)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or type(entry_id) is not int or not 0 < entry_id <= MAX_ID:
            raise ValueError
        # In UTC now: a far offset on year 1 or 9999 would overflow when the query binds it.
        return moment.astimezone(UTC), entry_id
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        json.JSONDecodeError,
        UnicodeDecodeError,
    ):
        raise ValidationError({"cursor": "This cursor is not one Daybook gave out."}) from None


def browse_entries(
    user: User,
    *,
    tag: str | None = None,
    q: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    sort: str = "-occurred_at",
    cursor: str | None = None,
    limit: int = 20,
) -> CursorPage:
    """Return the user's live entries filtered and sorted, `limit` at a time after `cursor`.

    Raises: ValidationError for an unknown sort or a malformed cursor.
    """
    if sort not in SORTS:
        raise ValidationError({"sort": f"Sort by one of {', '.join(SORTS)}."})
    column, descending = SORTS[sort]
    query = sa.select(Entry).where(Entry.user_id == user.id, Entry.deleted_at.is_(None))
    if tag:
        query = query.where(entries.tagged(user, tag))
    if q and q.strip():
        query = query.where(search.match_clause(q))
    if date_from is not None:
        query = query.where(Entry.occurred_at >= date_from)
    if date_to is not None:
        query = query.where(Entry.occurred_at < date_to)
    if cursor:
        value, last_id = _decode(cursor)
        if descending:
            query = query.where(
                sa.or_(column < value, sa.and_(column == value, Entry.id < last_id))
            )
        else:
            query = query.where(
                sa.or_(column > value, sa.and_(column == value, Entry.id > last_id))
            )
    order = (column.desc(), Entry.id.desc()) if descending else (column.asc(), Entry.id.asc())
    items = list(db.session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = _encode(items[limit - 1], column.key) if len(items) > limit else None
    return CursorPage(items[:limit], next_cursor)
