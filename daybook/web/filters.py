"""Template filters and globals: dates in the reader's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g, request
from flask import url_for as flask_url_for
from flask_login import current_user

BUILT_URLS_KEPT = 8192


def user_zone() -> ZoneInfo:
    """Return the signed-in user's time zone, UTC otherwise (looked up once a request)."""
    zone = g.get("user_zone")
    if zone is None:
        zone = g.user_zone = _zone_named(getattr(current_user, "timezone", None) or "UTC")
    return zone


def _zone_named(name: str) -> ZoneInfo:
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


@lru_cache(maxsize=BUILT_URLS_KEPT)
def _built_url(script_root: str, endpoint: str, values: tuple) -> str:
    return flask_url_for(endpoint, **{name: value for name, _, value in values})


def url_for(endpoint: str, **values) -> str:
    """Flask's url_for, remembered: a page of entry cards builds some 70 links, each as costly
    as a database query. A relative link depends only on the mount point, the endpoint and the
    values; anything else (`_external`, a blueprint-relative endpoint) is built afresh.
    """
    if endpoint.startswith(".") or any(name.startswith("_") for name in values):
        return flask_url_for(endpoint, **values)
    key = tuple(sorted((name, type(value), value) for name, value in values.items()))
    try:
        return _built_url(request.script_root, endpoint, key)
    except TypeError:  # an unhashable value
        return flask_url_for(endpoint, **values)


def register(app: Flask) -> None:
    from daybook.web import cards

    app.jinja_env.globals["url_for"] = url_for
    cards.register(app)
    app.jinja_env.filters.update(
        localtime=localtime,
        datetime=format_datetime,
        date=format_date,
        iso=iso,
        datetime_local=datetime_local,
    )
