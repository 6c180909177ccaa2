"""One log line per request on stdout: time, request id, method, path, status, duration, user."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import sqlalchemy as sa
import structlog
from flask import Flask, Response, g, request
from flask_login import current_user

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _renderer(log_format: str):
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    if sys.stdout.isatty():
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.KeyValueRenderer(
        key_order=["timestamp", "level", "event", "request_id"], drop_missing=True
    )


def _configure(level: str, log_format: str) -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level, force=False)
    # Alembic announces each of its plugins at INFO when Flask-Migrate imports it.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # markdown-it traces every rule at DEBUG, as plain text that would break a JSON log.
    logging.getLogger("markdown_it").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _renderer(log_format),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    user_id = None
    if current_user and getattr(current_user, "is_authenticated", False):
        user_id = current_user.id
    elif g.get("credential") is not None:
        # An API call with a bearer token: its user, from the identity map (no query, so
        # this works after a failed transaction too).
        user_id = sa.inspect(g.credential.user).identity[0]
    structlog.get_logger("daybook.request").info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round(
            (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1
        ),
        user_id=user_id,
    )
    return response


def init_request_log(app: Flask) -> None:
    """Configure structured logging and log every request once it is answered."""
    settings = app.config["DAYBOOK"]
    _configure(settings.log_level, settings.log_format)
    app.before_request(_start)
    app.after_request(_finish)


def log():
    """Return the structured logger for application events."""
    return structlog.get_logger("daybook")
