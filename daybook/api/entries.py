"""Entries, the trash, search and the caller's account over JSON."""

from __future__ import annotations

import hashlib
import re

from flask import Response, request, url_for
from sqlalchemy.exc import IntegrityError

from daybook.api import TAG_ENTRIES, bp, caller, json_response
from daybook.api.errors import problem
from daybook.api.schemas import (
    EntryCreate,
    EntryLinks,
    EntryList,
    EntryOut,
    EntryPath,
    EntryPreview,
    EntryQuery,
    EntryUpdate,
    Me,
    PageQuery,
    PreviewOut,
    SearchHit,
    SearchQuery,
    SearchResults,
    problems,
)
from daybook.errors import Conflict
from daybook.extensions import db
from daybook.models import Entry
from daybook.services import entries, entry_pages, markdown, search

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def entry_out(entry: Entry) -> EntryOut:
    """Serialise an entry as the API shows it."""
    return EntryOut(
        id=entry.id,
        title=entry.title,
        body=entry.body,
        html=entry.body_html,
        tags=entry.tag_names,
        occurred_at=entry.occurred_at,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        deleted_at=entry.deleted_at,
        version=entry.version,
        word_count=entry.word_count,
        links=EntryLinks(
            self=url_for("api.entry_get", entry_id=entry.id),
            html=url_for("web.entry_detail", entry_id=entry.id),
        ),
    )


def etag(entry: Entry) -> str:
    return f'"{entry.id}-{entry.version}"'


def _entry_response(entry: Entry, status: int = 200, **headers: str) -> Response:
    return json_response(entry_out(entry), status, {"ETag": etag(entry), **headers})


@bp.get("/me", tags=[TAG_ENTRIES], responses={200: Me})
def me():
    """Show the account the token belongs to."""
    user = caller()
    return json_response(
        Me(
            id=user.id,
            username=user.username,
            email=user.email,
            timezone=user.timezone,
            is_admin=user.is_admin,
            created_at=user.created_at,
        )
    )


@bp.get("/entries", tags=[TAG_ENTRIES], responses={200: EntryList, **problems(422)})
def entry_list(query: EntryQuery):
    """List live entries, filtered and sorted, with a cursor link to the next page."""
    page = entry_pages.browse_entries(
        caller(),
        tag=query.tag,
        q=query.q,
        date_from=query.from_,
        date_to=query.to,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
    )
    next_url = None
    if page.next_cursor:
        args = request.args.to_dict() | {"cursor": page.next_cursor}
        next_url = url_for("api.entry_list", **args)
    return json_response(EntryList(entries=[entry_out(e) for e in page.items], next=next_url))


def _fingerprint(body: EntryCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


@bp.post("/entries", tags=[TAG_ENTRIES], responses={201: EntryOut, **problems(409, 422)})
def entry_create(body: EntryCreate):
    """Write an entry; a retry with the same Idempotency-Key returns the first answer."""
    user = caller()
    key = request.headers.get("Idempotency-Key")
    idempotency = None
    if key is not None:
        if not IDEMPOTENCY_KEY.fullmatch(key):
            return problem(422, "Idempotency-Key must be 1–200 visible ASCII characters.")
        idempotency = (key, _fingerprint(body))
        replay = _replay(user, key, idempotency[1])
        if replay is not None:
            return replay
    fields = {
        "title": body.title,
        "body": body.body,
        "tags": body.tags,
        "occurred_at": body.occurred_at,
    }
    try:
        entry = entries.create_entry(user, **fields, idempotency=idempotency)
    except IntegrityError:
        db.session.rollback()
        if idempotency is None:
            raise
        # The same key won a race with this request: answer as a retry would be answered.
        replay = _replay(user, idempotency[0], idempotency[1])
        return replay or problem(409, "A request with this Idempotency-Key is in progress.")
    location = url_for("api.entry_get", entry_id=entry.id)
    return _entry_response(entry, 201, Location=location)


def _replay(user, key: str, fingerprint: str) -> Response | None:
    record = entries.find_idempotent(user, key)
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        return problem(422, "This Idempotency-Key was used for a different request.")
    entry = db.session.get(Entry, record.entry_id) if record.entry_id else None
    if entry is None or entry.user_id != user.id:
        return problem(409, "The entry created with this Idempotency-Key no longer exists.")
    return _entry_response(
        entry,
        201,
        Location=url_for("api.entry_get", entry_id=entry.id),
        **{"Idempotent-Replayed": "true"},
    )


@bp.get("/entries/<int:entry_id>", tags=[TAG_ENTRIES], responses={200: EntryOut, **problems(404)})
def entry_get(path: EntryPath):
    """Show one entry with its ETag."""
    return _entry_response(entries.get_entry(caller(), path.entry_id))


def _if_match_versions(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


@bp.patch(
    "/entries/<int:entry_id>",
    tags=[TAG_ENTRIES],
    responses={200: EntryOut, **problems(404, 412, 422, 428)},
)
def entry_update(path: EntryPath, body: EntryUpdate):
    """Change an entry; If-Match must carry the ETag it was read at, so no edit is lost."""
    user = caller()
    entry = entries.get_entry(user, path.entry_id)
    header = request.headers.get("If-Match")
    if header is None:
        return problem(
            428, "Send If-Match with the entry's ETag, so a newer edit is never overwritten."
        )
    wanted = _if_match_versions(header)
    if "*" not in wanted and etag(entry) not in wanted:
        return problem(412, "The entry changed since you read it.", current_version=entry.version)
    fields = body.model_dump(exclude_unset=True)
    try:
        entry = entries.update_entry(
            user,
            entry.id,
            expected_version=entry.version,
            title=fields.get("title") or entry.title,
            body=fields["body"] if fields.get("body") is not None else entry.body,
            tags=fields["tags"] if fields.get("tags") is not None else entry.tag_names,
            occurred_at=fields.get("occurred_at"),
        )
    except Conflict as exc:
        return problem(
            412, "The entry changed since you read it.", current_version=exc.current.version
        )
    return _entry_response(entry)


@bp.delete("/entries/<int:entry_id>", tags=[TAG_ENTRIES], responses={204: None, **problems(404)})
def entry_delete(path: EntryPath):
    """Move an entry to the trash."""
    entries.trash_entry(caller(), path.entry_id)
    return Response(status=204)


@bp.post(
    "/entries/<int:entry_id>/restore",
    tags=[TAG_ENTRIES],
    responses={200: EntryOut, **problems(404)},
)
def entry_restore(path: EntryPath):
    """Bring an entry back from the trash."""
    return _entry_response(entries.restore_entry(caller(), path.entry_id))


@bp.post("/entries/preview", tags=[TAG_ENTRIES], responses={200: PreviewOut, **problems(422)})
def entry_preview(body: EntryPreview):
    """Render Markdown as an entry's html would be, without saving anything."""
    return json_response(PreviewOut(html=markdown.render(body.body)))


@bp.delete("/trash/<int:entry_id>", tags=[TAG_ENTRIES], responses={204: None, **problems(404)})
def trash_purge(path: EntryPath):
    """Delete an entry in the trash for good."""
    entries.purge_entry(caller(), path.entry_id)
    return Response(status=204)


@bp.get("/trash", tags=[TAG_ENTRIES], responses={200: EntryList, **problems(422)})
def trash_list(query: PageQuery):
    """List entries in the trash, most recently deleted first."""
    page = entries.list_trash(caller(), page=query.page)
    next_url = url_for("api.trash_list", page=query.page + 1) if page.has_next else None
    return json_response(EntryList(entries=[entry_out(e) for e in page.items], next=next_url))


@bp.get("/search", tags=[TAG_ENTRIES], responses={200: SearchResults, **problems(422)})
def search_list(query: SearchQuery):
    """Search entries: words, "phrases", -exclusions, prefix*; best matches first."""
    result = search.search_entries(
        caller(), query.q, tag=query.tag, date_from=query.from_, date_to=query.to, page=query.page
    )
    hits = [
        SearchHit(
            entry=entry_out(h.entry), title_html=str(h.title_html), snippet_html=str(h.snippet_html)
        )
        for h in result.hits
    ]
    next_url = None
    if result.has_next:
        next_url = url_for("api.search_list", **(request.args.to_dict() | {"page": query.page + 1}))
    return json_response(SearchResults(results=hits, next=next_url))
