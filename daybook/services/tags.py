"""Tags: parsing what people type, listing with counts, rename, merge and delete."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.models import Entry, Tag, User, entry_tag

MAX_TAG_LENGTH = 64
MAX_TAGS_PER_ENTRY = 50
# Slash-separated parts that each start with a letter or digit ("project/daybook"), so a name
# is never "..", "a//b" or "a/" and stays one clean path in /tags/<name>/edit.
TAG_RE = re.compile(r"^\w[\w.-]*(?:/\w[\w.-]*)*$")


def normalise_tag(name: str) -> str:
    """Return the stored form of one tag name.

    Raises: ValidationError under the field `tags`.
    """
    tag = (name or "").strip().lstrip("#").lower()
    if not tag:
        raise ValidationError({"tags": "A tag cannot be empty."})
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationError({"tags": f"Tags are at most {MAX_TAG_LENGTH} characters long."})
    if not TAG_RE.fullmatch(tag):
        raise ValidationError(
            {"tags": f"“{tag[:30]}” is not a tag: use letters, digits and - _ . / only."}
        )
    return tag


def parse_tags(raw: str | Iterable[str] | None) -> list[str]:
    """Split comma- or space-separated tags into unique normalised names, in typed order.

    Raises: ValidationError under the field `tags`.
    """
    if raw is None:
        return []
    parts = re.split(r"[,\s]+", raw) if isinstance(raw, str) else list(raw)
    names: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError({"tags": "Tags must be text."})
        if part.strip().lstrip("#") == "":
            continue
        name = normalise_tag(part)
        if name not in names:
            names.append(name)
        if len(names) > MAX_TAGS_PER_ENTRY:
            raise ValidationError({"tags": f"An entry can have at most {MAX_TAGS_PER_ENTRY} tags."})
    return names


def tags_for(user: User, names: list[str]) -> list[Tag]:
    """Return the user's Tag rows for these names, creating the missing ones (no commit)."""
    if not names:
        return []
    existing = _tags_named(user, names)
    missing = [name for name in names if name not in existing]
    if missing:
        # Two writes may bring the same new tag at once: the second must use the first's row,
        # not fail on the unique name.
        insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        db.session.execute(
            insert(Tag)
            .values([{"user_id": user.id, "name": name} for name in missing])
            .on_conflict_do_nothing(index_elements=["user_id", "name"])
        )
        existing = _tags_named(user, names)
    return [existing[name] for name in names]


def _tags_named(user: User, names: list[str]) -> dict[str, Tag]:
    return {
        t.name: t
        for t in db.session.scalars(
            sa.select(Tag).where(Tag.user_id == user.id, Tag.name.in_(names))
        )
    }


def list_tags(user: User) -> list[tuple[str, int]]:
    """Return the user's tags with how many live entries carry each, by name."""
    count = sa.func.count(Entry.id)
    rows = db.session.execute(
        sa.select(Tag.name, count)
        .select_from(Tag)
        .outerjoin(entry_tag, entry_tag.c.tag_id == Tag.id)
        .outerjoin(Entry, sa.and_(Entry.id == entry_tag.c.entry_id, Entry.deleted_at.is_(None)))
        .where(Tag.user_id == user.id)
        .group_by(Tag.id, Tag.name)
        .order_by(Tag.name)
    )
    return [(name, n) for name, n in rows]


def get_tag(user: User, name: str) -> Tag:
    """Return one of the user's tags by name.

    Raises: NotFound.
    """
    tag = db.session.scalar(
        sa.select(Tag).where(Tag.user_id == user.id, Tag.name == (name or "").lower())
    )
    if tag is None:
        raise NotFound("No such tag.")
    return tag


def _entry_ids(tag: Tag) -> list[int]:
    return list(
        db.session.scalars(sa.select(entry_tag.c.entry_id).where(entry_tag.c.tag_id == tag.id))
    )


def _touch(entry_ids: list[int]) -> None:
    # The entries' tags changed: a new version, so a client holding the old ETag gets 412.
    if entry_ids:
        db.session.execute(
            sa.update(Entry)
            .where(Entry.id.in_(entry_ids))
            .values(version=Entry.version + 1)
            .execution_options(synchronize_session=False)
        )


def rename_tag(user: User, name: str, new_name: str) -> str:
    """Rename a tag; renaming to a tag that exists merges the two. Return the resulting name.

    Raises: NotFound; ValidationError under `new_name`.
    """
    from daybook.services import search

    tag = get_tag(user, name)
    try:
        target_name = normalise_tag(new_name)
    except ValidationError as exc:
        raise ValidationError({"new_name": exc.fields["tags"]}) from None
    if target_name == tag.name:
        return tag.name
    affected = _entry_ids(tag)
    target = db.session.scalar(
        sa.select(Tag).where(Tag.user_id == user.id, Tag.name == target_name)
    )
    if target is None:
        tag.name = target_name
    else:
        already = set(_entry_ids(target))
        moving = [eid for eid in affected if eid not in already]
        if moving:
            db.session.execute(
                entry_tag.insert(), [{"entry_id": e, "tag_id": target.id} for e in moving]
            )
        db.session.execute(sa.delete(entry_tag).where(entry_tag.c.tag_id == tag.id))
        db.session.delete(tag)
    db.session.flush()
    _touch(affected)
    search.reindex_entries(affected)
    db.session.commit()
    return target_name


def delete_tag(user: User, name: str) -> None:
    """Remove a tag from every entry of the user and delete it.

    Raises: NotFound.
    """
    from daybook.services import search

    tag = get_tag(user, name)
    affected = _entry_ids(tag)
    db.session.execute(sa.delete(entry_tag).where(entry_tag.c.tag_id == tag.id))
    db.session.delete(tag)
    db.session.flush()
    _touch(affected)
    search.reindex_entries(affected)
    db.session.commit()
