"""Reading form input: numbers and dates typed in the user's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request

from daybook.errors import ValidationError
from daybook.web.filters import user_zone


def page_arg() -> int:
    """Return ?page= as a positive int, 1 when missing or malformed."""
    try:
        return max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        return 1


def parse_local_datetime(raw: str | None, field: str) -> datetime | None:
    """Read a datetime-local (or date) value typed in the user's zone as aware UTC.

    Raises: ValidationError under `field`.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            naive = datetime.strptime(raw, fmt)  # noqa: DTZ007 - the zone is the user's, added next
        except ValueError:
            continue
        if not 1900 <= naive.year <= 9998:
            break
        return naive.replace(tzinfo=user_zone()).astimezone(UTC)
    raise ValidationError({field: "Enter a date like 2026-11-22 or 2026-11-22T09:30."})


def entry_fields() -> dict[str, str]:
    """Return the entry form's fields as submitted, for services and re-rendering."""
    return {name: request.form.get(name, "") for name in ("title", "body", "tags", "occurred_at")}
