"""Export a user's journal as JSON or zipped Markdown, and import the JSON back."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from daybook.errors import ValidationError
from daybook.extensions import db
from daybook.models import Entry, User, utcnow
from daybook.services import entries, search
from daybook.services import tags as tag_service

FORMAT = "daybook-export"
VERSION = 1
MAX_ERRORS = 20
# Characters YAML will not take raw inside a double-quoted scalar: C0/C1 controls, DEL, the
# YAML 1.1 line breaks (NEL, LS, PS) and non-characters. JSON leaves them raw; YAML reads
# a backslash-u escape with four hex digits exactly as JSON does.
_YAML_RAW_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def rfc3339(moment: datetime | None) -> str | None:
    """Return an aware time as RFC 3339 in UTC (`2026-11-22T19:55:00.123456Z`)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _user_entries(user: User) -> Iterator[Entry]:
    # All of them, trash included, oldest first; yield_per keeps a big journal out of memory.
    return iter(
        db.session.scalars(
            sa.select(Entry)
            .where(Entry.user_id == user.id)
            .order_by(Entry.occurred_at, Entry.id)
            .execution_options(yield_per=500)
        )
    )


def entry_record(entry: Entry) -> dict[str, Any]:
    """Return one entry as it appears in the JSON export."""
    return {
        "title": entry.title,
        "body": entry.body,
        "tags": entry.tag_names,
        "occurred_at": rfc3339(entry.occurred_at),
        "created_at": rfc3339(entry.created_at),
        "updated_at": rfc3339(entry.updated_at),
        "deleted_at": rfc3339(entry.deleted_at),
        "version": entry.version,
    }


def export_json(user: User, out: IO[str]) -> int:
    """Write the user's whole journal, trash included, as JSON to `out`; return the entry count.

    Entries are written one per line as they are read, so memory stays flat.
    """
    header = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": rfc3339(utcnow()),
        "user": {"username": user.username, "email": user.email, "timezone": user.timezone},
    }
    out.write("{\n")
    for key, value in header.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write('  "entries": [')
    count = 0
    for entry in _user_entries(user):
        out.write(("," if count else "") + "\n    ")
        out.write(json.dumps(entry_record(entry), ensure_ascii=False))
        count += 1
    out.write("\n  ]\n}\n" if count else "]\n}\n")
    return count


# -- Markdown --------------------------------------------------------------------------------


def yaml_value(value: str | list[str]) -> str:
    """Return a string or list of strings as a JSON-quoted YAML flow value."""
    text = json.dumps(value, ensure_ascii=False)
    return _YAML_RAW_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def slugify(title: str) -> str:
    """Return a short ASCII file-name slug for a title ("entry" when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].rstrip("-") or "entry"


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def markdown_document(entry: Entry, zone: tzinfo = UTC) -> str:
    """Return one entry as Markdown with YAML front matter."""
    fields = [
        ("title", yaml_value(entry.title)),
        ("date", yaml_value(entry.occurred_at.astimezone(zone).isoformat())),
        ("tags", yaml_value(entry.tag_names)),
        ("created", yaml_value(rfc3339(entry.created_at) or "")),
        ("updated", yaml_value(rfc3339(entry.updated_at) or "")),
    ]
    if entry.deleted_at is not None:
        fields.append(("deleted", yaml_value(rfc3339(entry.deleted_at) or "")))
    front = "".join(f"{key}: {value}\n" for key, value in fields)
    body = entry.body if entry.body.endswith("\n") or not entry.body else entry.body + "\n"
    return f"---\n{front}---\n\n{body}"


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    # Zip time stamps cover 1980–2107 only.
    if moment.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if moment.year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def export_markdown(user: User, out: IO[bytes]) -> int:
    """Write the user's journal as a zip of Markdown files to `out`; return the entry count.

    Each entry is `YYYY-MM-DD-slug.md` (its date in the user's time zone); trashed entries go
    under `trash/`.
    """
    zone = _zone(user.timezone)
    used: set[str] = set()
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in _user_entries(user):
            local = entry.occurred_at.astimezone(zone)
            stem = f"{'trash/' if entry.deleted_at else ''}{local:%Y-%m-%d}-{slugify(entry.title)}"
            name, n = f"{stem}.md", 1
            while name in used:
                n += 1
                name = f"{stem}-{n}.md"
            used.add(name)
            info = zipfile.ZipInfo(name, date_time=_zip_time(local))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100600 << 16
            archive.writestr(info, markdown_document(entry, zone))
            count += 1
    return count


# -- import ----------------------------------------------------------------------------------


@dataclass
class ImportedEntry:
    title: str
    body: str
    tags: list[str]
    occurred_at: datetime
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    version: int


@dataclass
class ImportResult:
    created: int
    skipped: int


def _time(value: Any, where: str, errors: dict[str, str], *, required: bool) -> datetime | None:
    if value is None:
        if required:
            errors[where] = "is required."
        return None
    moment = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value)
    if moment is None:
        errors[where] = 'must be an RFC 3339 time such as "2026-11-22T19:55:00Z".'
    elif moment.tzinfo is None:
        errors[where] = "needs a time zone (Z or +hh:mm)."
    elif not entries.EARLIEST <= moment < entries.LATEST:
        errors[where] = "must lie between the years 1900 and 9998."
    else:
        return moment.astimezone(UTC)
    return None


def _entry(raw: Any, where: str, errors: dict[str, str]) -> ImportedEntry | None:
    if not isinstance(raw, dict):
        errors[where] = "must be an object."
        return None
    problems: dict[str, str] = {}
    title, body = raw.get("title"), raw.get("body", "")
    if not isinstance(title, str):
        problems["title"] = "must be text." if "title" in raw else "is required."
        title = ""
    if not isinstance(body, str):
        problems["body"] = "must be text."
        body = ""
    occurred_at = _time(raw.get("occurred_at"), "occurred_at", problems, required=True)
    created_at = _time(raw.get("created_at"), "created_at", problems, required=False)
    updated_at = _time(raw.get("updated_at"), "updated_at", problems, required=False)
    deleted_at = _time(raw.get("deleted_at"), "deleted_at", problems, required=False)
    title, body, field_errors = entries.clean_fields(title, body, occurred_at)
    for key, message in field_errors.items():
        problems.setdefault(key, message)
    tags = raw.get("tags", [])
    if not isinstance(tags, list | str):
        problems["tags"] = "must be a list of tag names."
        tags = []
    try:
        tag_names = tag_service.parse_tags(tags)
    except ValidationError as exc:
        problems["tags"] = exc.fields["tags"]
        tag_names = []
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems["version"] = "must be a whole number of at least 1."
    errors.update({f"{where}.{key}": message for key, message in problems.items()})
    if problems or occurred_at is None:
        return None
    return ImportedEntry(
        title, body, tag_names, occurred_at, created_at, updated_at, deleted_at, version
    )


def parse_export(raw: bytes | str) -> list[ImportedEntry]:
    """Read and check a whole JSON export, without writing anything.

    Raises: ValidationError naming every bad field (the first MAX_ERRORS of them).
    """
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError({"file": f"is not valid JSON ({exc})."}) from None
    except RecursionError:
        raise ValidationError({"file": "is nested too deeply to be a Daybook export."}) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValidationError({"format": f'is not a Daybook export (no "format": "{FORMAT}").'})
    if data.get("version") != VERSION:
        raise ValidationError(
            {"version": f"{data.get('version')!r} is not supported; this Daybook reads {VERSION}."}
        )
    items = data.get("entries")
    if not isinstance(items, list):
        raise ValidationError({"entries": "must be a list."})
    errors: dict[str, str] = {}
    parsed = []
    for index, item in enumerate(items):
        record = _entry(item, f"entries[{index}]", errors)
        if record is not None:
            parsed.append(record)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ValidationError(errors)
    return parsed


def _key(title: str, occurred_at: datetime, body: str) -> tuple[str, datetime, str]:
    return title, occurred_at, hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def import_json(user: User, raw: bytes | str) -> ImportResult:
    """Add the entries of a JSON export to the user's journal, all or nothing.

    Entries already there with the same title, occurred_at and body are skipped, so importing
    a file twice adds nothing the second time. Times, trash state and version are kept.

    Raises: ValidationError, with nothing written.
    """
    records = parse_export(raw)
    existing = {
        _key(title, occurred_at, body)
        for title, occurred_at, body in db.session.execute(
            sa.select(Entry.title, Entry.occurred_at, Entry.body).where(Entry.user_id == user.id)
        )
    }
    created = skipped = 0
    now = utcnow()
    try:
        for record in records:
            if _key(record.title, record.occurred_at, record.body) in existing:
                skipped += 1
                continue
            created_at = record.created_at or now
            entry = Entry(
                user_id=user.id,
                occurred_at=record.occurred_at,
                created_at=created_at,
                updated_at=record.updated_at or created_at,
                deleted_at=record.deleted_at,
                version=record.version,
                visibility="private",
            )
            db.session.add(entry)
            # The entry service's own rendering, tagging and indexing, without its commit:
            # the whole file goes in as one transaction.
            entries.apply_fields(
                entry, user, title=record.title, body=record.body, tag_names=record.tags
            )
            if record.deleted_at is not None:
                search.unindex_entry(entry.id)
            created += 1
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return ImportResult(created, skipped)
