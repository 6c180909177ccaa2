"""Entries: write, read, list, trash, restore and purge, keeping the search index in step."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from daybook.database import commit_keeping_loaded
from daybook.errors import Conflict, NotFound, ValidationError
from daybook.extensions import db
from daybook.models import Entry, IdempotentRequest, Tag, User, entry_tag, utcnow
from daybook.models.base import MAX_ID
from daybook.services import markdown, search
from daybook.services import tags as tag_service
from daybook.services.entry_cards import (
    EntryCard,
    ShownEntry,
    read_cards,
    read_shown,
    select_cards,
    select_shown,
    with_tags,
)

MAX_TITLE = 200
MAX_BODY_BYTES = 1024 * 1024
PER_PAGE = 20
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
TITLE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # line breaks, NUL and other C0 controls
# The hottest reads use the table's columns: without mapped attributes they skip the ORM.
_entries = Entry.__table__.c


@dataclass
class Page:
    items: list[Entry] | list[EntryCard]
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def clean_fields(
    title: str, body: str, occurred_at: datetime | None
) -> tuple[str, str, dict[str, str]]:
    """Return the title and body as stored, and a message for each field that breaks a rule."""
    errors: dict[str, str] = {}
    title = (title or "").strip()
    body = (body or "").replace("\r\n", "\n")
    if not title:
        errors["title"] = "Give the entry a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters (it has {len(title)})."
    elif TITLE_CONTROL.search(title):
        errors["title"] = "The title must be one line of text."
    if "\x00" in body:
        errors["body"] = "The text contains a NUL character, which cannot be stored."
    elif len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        errors["body"] = "The text is longer than 1 MB."
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            errors["occurred_at"] = "The date needs a time zone."
        elif not EARLIEST <= occurred_at < LATEST:
            errors["occurred_at"] = "Choose a date between the years 1900 and 9998."
    return title, body, errors


def _render(entry: Entry) -> str:
    """Fill in everything derived from the body; return its plain text for the index."""
    entry.body_html, plain = markdown.render_with_text(entry.body)
    entry.render_version = markdown.RENDER_VERSION
    entry.excerpt = markdown.excerpt(plain)
    entry.word_count = markdown.word_count(plain)
    return plain


def apply_fields(entry: Entry, user: User, *, title: str, body: str, tag_names: list[str]) -> None:
    """Write checked fields, the rendered HTML and the search row; the caller commits."""
    # Tags first, without flushing: a new entry flushed now would have its (empty) tags
    # loaded back just to be replaced.
    with db.session.no_autoflush:
        tags = tag_service.tags_for(user, tag_names)
    entry.title = title
    entry.body = body
    plain = _render(entry)
    # In the relationship's order (by name), as the entry read back would have them.
    entry.tags = sorted(tags, key=lambda tag: tag.name)
    db.session.flush()
    search.index_entry(entry, plain_body=plain, tags=tag_names)


def _checked(
    title: str, body: str, tags: str | list[str] | None, occurred_at: datetime | None
) -> tuple[str, str, list[str]]:
    title, body, errors = clean_fields(title, body, occurred_at)
    try:
        tag_names = tag_service.parse_tags(tags)
    except ValidationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationError(errors)
    return title, body, tag_names


def tagged(user: User, tag: str) -> sa.ColumnElement[bool]:
    """Return a filter on Entry for the user's entries that carry `tag`."""
    return Entry.id.in_(
        sa.select(entry_tag.c.entry_id)
        .join(Tag, Tag.id == entry_tag.c.tag_id)
        .where(Tag.user_id == user.id, Tag.name == tag.strip().lstrip("#").lower())
    )


def create_entry(
    user: User,
    *,
    title: str,
    body: str = "",
    tags: str | list[str] | None = None,
    occurred_at: datetime | None = None,
    idempotency: tuple[str, str] | None = None,
) -> Entry:
    """Write a new entry; with `idempotency` (key, request fingerprint) record it under that key.

    Raises: ValidationError naming each bad field; IntegrityError when the key was taken meanwhile.
    """
    title, body, tag_names = _checked(title, body, tags, occurred_at)
    now = utcnow()
    entry = Entry(
        user_id=user.id,
        occurred_at=occurred_at or now,
        created_at=now,
        updated_at=now,
        version=1,
        visibility="private",
    )
    db.session.add(entry)
    apply_fields(entry, user, title=title, body=body, tag_names=tag_names)
    if idempotency is not None:
        # Same transaction as the entry: either both exist or neither does.
        db.session.add(
            IdempotentRequest(
                user_id=user.id,
                key=idempotency[0],
                fingerprint=idempotency[1],
                entry_id=entry.id,
                created_at=now,
            )
        )
    commit_keeping_loaded()
    return entry


def _check_id(entry_id: int) -> None:
    # Ids are 32-bit integers on PostgreSQL: a larger number is no id, and binding it would fail.
    if not 0 < entry_id <= MAX_ID:
        raise NotFound("No such entry.")


def get_entry(user: User, entry_id: int, *, trashed: bool = False) -> Entry:
    """Return one of the user's entries, live or (with trashed=True) in the trash.

    Raises: NotFound, also for someone else's entry.
    """
    _check_id(entry_id)
    # By primary key: an entry this request has read already comes from the session, unqueried.
    entry = db.session.get(Entry, entry_id)
    if entry is None or entry.user_id != user.id or (entry.deleted_at is None) == trashed:
        raise NotFound("No such entry.")
    if entry.render_version != markdown.RENDER_VERSION:
        # The renderer changed since this was saved: bring the cache, excerpt and index up to date.
        plain = _render(entry)
        if entry.deleted_at is None:
            search.index_entry(entry, plain_body=plain)
        db.session.commit()
    return entry


# An entry's page and edit form, the most visited after the list: built once.
_SHOWN_LIVE = select_shown().where(
    _entries.id == sa.bindparam("entry_id"),
    _entries.user_id == sa.bindparam("user_id"),
    _entries.deleted_at.is_(None),
)


def show_entry(user: User, entry_id: int) -> ShownEntry:
    """Return what the page of one of the user's live entries shows.

    Raises: NotFound, also for someone else's entry.
    """
    _check_id(entry_id)
    shown = read_shown(_SHOWN_LIVE, {"entry_id": entry_id, "user_id": user.id})
    return shown if shown is not None else ShownEntry.of(get_entry(user, entry_id))


def update_entry(
    user: User,
    entry_id: int,
    *,
    expected_version: int | None,
    title: str,
    body: str,
    tags: str | list[str] | None,
    occurred_at: datetime | None = None,
) -> Entry:
    """Save changes to an entry the caller read at `expected_version`.

    Raises: NotFound; ValidationError; Conflict (with the saved entry) when it changed since.
    """
    entry = get_entry(user, entry_id)
    title, body, tag_names = _checked(title, body, tags, occurred_at)
    # A conditional UPDATE, not a read-then-write check, so two saves racing cannot both win.
    now = utcnow()
    bumped = db.session.execute(
        sa.update(Entry)
        .where(Entry.id == entry.id, Entry.version == expected_version)
        .values(version=Entry.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if expected_version is None or bumped != 1:
        db.session.rollback()
        raise Conflict("This entry changed since you opened it.", current=get_entry(user, entry_id))
    # The row now holds exactly these (the UPDATE matched expected_version): no need to read
    # them back.
    set_committed_value(entry, "version", expected_version + 1)
    set_committed_value(entry, "updated_at", now)
    if occurred_at is not None:
        entry.occurred_at = occurred_at
    apply_fields(entry, user, title=title, body=body, tag_names=tag_names)
    commit_keeping_loaded()
    return entry


def find_idempotent(user: User, key: str) -> IdempotentRequest | None:
    """Return what was recorded under an Idempotency-Key, if anything."""
    return db.session.scalar(
        sa.select(IdempotentRequest).where(
            IdempotentRequest.user_id == user.id, IdempotentRequest.key == key
        )
    )


# The list page, the most visited: built once, newest first by the partial index on live entries.
_LIVE_CARDS = select_cards().where(
    _entries.user_id == sa.bindparam("user_id"), _entries.deleted_at.is_(None)
)


def _page_of(cards: sa.Select) -> sa.Select:
    return with_tags(
        cards.order_by(_entries.occurred_at.desc(), _entries.id.desc())
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )


_LIVE_CARDS_PAGE = _page_of(_LIVE_CARDS)


def list_entries(
    user: User, *, page: int = 1, tag: str | None = None, per_page: int = PER_PAGE
) -> Page:
    """Return a page of the cards of the user's live entries, newest first, optionally with one
    tag."""
    page = max(1, page)
    window = {"user_id": user.id, "limit": per_page + 1, "offset": (page - 1) * per_page}
    query = _page_of(_LIVE_CARDS.where(tagged(user, tag))) if tag else _LIVE_CARDS_PAGE
    items = read_cards(query, window)
    return Page(items[:per_page], page, len(items) > per_page)


def list_trash(user: User, *, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Return a page of the user's trashed entries, most recently deleted first."""
    page = max(1, page)
    items = list(
        db.session.scalars(
            sa.select(Entry)
            .where(Entry.user_id == user.id, Entry.deleted_at.is_not(None))
            .order_by(Entry.deleted_at.desc(), Entry.id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    return Page(items[:per_page], page, len(items) > per_page)


def trash_entry(user: User, entry_id: int) -> Entry:
    """Move an entry to the trash.

    Raises: NotFound.
    """
    entry = get_entry(user, entry_id)
    entry.deleted_at = utcnow()
    entry.version += 1
    search.unindex_entry(entry.id)
    db.session.commit()
    return entry


def restore_entry(user: User, entry_id: int) -> Entry:
    """Bring an entry back from the trash.

    Raises: NotFound.
    """
    entry = get_entry(user, entry_id, trashed=True)
    entry.deleted_at = None
    entry.version += 1
    search.index_entry(entry)
    db.session.commit()
    return entry


def purge_entry(user: User, entry_id: int) -> None:
    """Delete a trashed entry for good.

    Raises: NotFound.
    """
    entry = get_entry(user, entry_id, trashed=True)
    search.unindex_entry(entry.id)
    db.session.delete(entry)
    db.session.commit()


def purge_expired_trash(days: int, *, now: datetime | None = None) -> int:
    """Delete every entry that has been in the trash longer than `days`; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    ids = list(db.session.scalars(sa.select(Entry.id).where(Entry.deleted_at < cutoff)))
    for entry_id in ids:
        search.unindex_entry(entry_id)
    if ids:
        db.session.execute(sa.delete(Entry).where(Entry.id.in_(ids)))
    db.session.commit()
    return len(ids)
