"""Template filters and globals: dates in the reader's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from flask_login import current_user


def user_zone() -> ZoneInfo:
    """Return the signed-in user's time zone, UTC otherwise."""
    name = getattr(current_user, "timezone", None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def localtime(value: datetime | None) -> datetime | None:
    """Convert an aware UTC datetime to the user's zone."""
    if value is None:
        return None
    return value.astimezone(user_zone())


def format_datetime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    local = localtime(value)
    return local.strftime(fmt) if local else ""


def format_date(value: datetime | None) -> str:
    return format_datetime(value, "%a %d %b %Y")


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def datetime_local(value: datetime | None) -> str:
    """Format for an <input type=datetime-local> in the user's zone."""
    local = localtime(value)
    return local.strftime("%Y-%m-%dT%H:%M") if local else ""


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        localtime=localtime,
        datetime=format_datetime,
        date=format_date,
        iso=iso,
        datetime_local=datetime_local,
    )
