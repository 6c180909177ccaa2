"""Friendly error pages for HTTP errors and domain errors that escape a view."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from daybook import errors
from daybook.api.errors import from_http_exception, problem
from daybook.extensions import db
from daybook.request_log import log

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Not found", "There is nothing here. It may have been deleted, or the link is wrong."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than Daybook accepts. Shorten it and try again."),
    429: ("Slow down", "Too many attempts. Wait a little and try again."),
    500: ("Something went wrong", "Daybook hit an unexpected error. Nothing you saved was lost."),
    503: ("Busy", "Daybook is busy or its storage is unavailable. Try again in a moment."),
    507: (
        "Disk full",
        "The disk Daybook writes to is full, so this change was not saved. "
        "Everything saved before is intact; free some space and try again.",
    ),
}


def error_page(status: int, message: str | None = None, headers: dict[str, str] | None = None):
    title, default = MESSAGES.get(status, ("Error", "The request failed."))
    body = render_template(
        "errors/error.html", status=status, title=title, message=message or default
    )
    return body, status, headers or {}


def register(app: Flask) -> None:
    """Answer errors with pages in Daybook's layout, never a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if request.path.startswith("/api/"):
            return from_http_exception(exc)  # unrouted API paths answer in JSON too
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        message = exc.description if exc.code in (400, 405) and exc.description else None
        return error_page(exc.code, message, headers)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        log().warning("csrf refused", reason=exc.description)
        return error_page(
            400,
            "This form has expired or did not come from Daybook. "
            "Go back, reload the page and try again.",
        )

    @app.errorhandler(errors.NotFound)
    def not_found(_exc):
        return error_page(404)

    @app.errorhandler(errors.PermissionDenied)
    def denied(_exc):
        return error_page(403)

    @app.errorhandler(errors.Throttled)
    def throttled(exc: errors.Throttled):
        return error_page(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.errorhandler(OperationalError)
    def storage_error(exc: OperationalError):
        db.session.rollback()
        text = str(exc.orig).lower()
        log().error("storage error", error=text[:200])
        full = "disk is full" in text or "no space left" in text
        if request.path.startswith("/api/"):
            if full:
                return problem(507, "The disk is full; nothing was saved.")
            return problem(503, "Storage is busy or unavailable.", headers={"Retry-After": "5"})
        if full:
            return error_page(507)
        return error_page(503, headers={"Retry-After": "5"})

    @app.errorhandler(InternalServerError)
    def server_error(exc):
        original = getattr(exc, "original_exception", None)
        if isinstance(original, OperationalError):
            # Raised outside the view, opening or saving the session (on a full disk, say):
            # Flask hands such errors to this handler only, never to storage_error.
            return storage_error(original)
        db.session.rollback()
        if request.path.startswith("/api/"):
            log().error(
                "unhandled error", error=repr(getattr(exc, "original_exception", exc))[:500]
            )
            return problem(500, "Daybook hit an unexpected error.")
        log().error("unhandled error", error=repr(getattr(exc, "original_exception", exc))[:500])
        return error_page(500)
