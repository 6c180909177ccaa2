"""One-time messages ("Entry saved.") carried to the next page in a signed cookie of their own.

Flask keeps them in the session, and Daybook's sessions live server-side: every save and the
page after it would each write the session row again, only to add a message and take it away.
A short-lived signed cookie carries the message instead; the session is written only when it
really changes (a login, a new CSRF token).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from itsdangerous import BadData, URLSafeTimedSerializer

COOKIE = "daybook_flash"
# Long enough for any redirect to be followed, short enough that a message never greets
# someone on a later visit.
MAX_AGE_S = 120
MAX_MESSAGES = 5


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="daybook-flash")


def flash(message: str, category: str = "message") -> None:
    """Show `message` on the next page this browser loads."""
    pending = g.setdefault("daybook_flashes", [])
    pending.append((category, str(message)))


def get_flashed_messages(with_categories: bool = False) -> list:
    """Return (and use up) the messages sent to this page, as Flask's function does."""
    if "daybook_flashes_shown" not in g:
        g.daybook_flashes_shown = _received()
    shown = g.daybook_flashes_shown
    return [tuple(m) for m in shown] if with_categories else [m[1] for m in shown]


def _received() -> list[tuple[str, str]]:
    sent = request.cookies.get(COOKIE)
    if not sent:
        return []
    try:
        messages = _serializer().loads(sent, max_age=MAX_AGE_S)
    except BadData:
        return []
    if not isinstance(messages, list):
        return []
    return [
        (str(m[0]), str(m[1]))
        for m in messages[:MAX_MESSAGES]
        if isinstance(m, list) and len(m) == 2
    ]


def _carry(response: Response) -> Response:
    pending = g.get("daybook_flashes")
    options = {
        "path": request.script_root or "/",
        "secure": current_app.config["SESSION_COOKIE_SECURE"],
        "httponly": True,
        "samesite": "Lax",
    }
    if pending and "daybook_flashes_shown" not in g:
        pending = _received() + pending  # a redirect on the way: keep what it did not show
    if pending:
        dumped = _serializer().dumps(pending[-MAX_MESSAGES:])
        response.set_cookie(COOKIE, dumped, max_age=MAX_AGE_S, **options)
    elif "daybook_flashes_shown" in g and COOKIE in request.cookies:
        response.delete_cookie(COOKIE, **options)
    return response


def register(app: Flask) -> None:
    app.jinja_env.globals["get_flashed_messages"] = get_flashed_messages
    app.after_request(_carry)
