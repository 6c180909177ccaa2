"""One-time messages ride in a signed cookie: shown once, never forged, and no session writes."""

from __future__ import annotations

import re

from sqlalchemy import event

from daybook.extensions import db
from daybook.web.flashes import COOKIE

FLASH = re.compile(r'<p class="flash flash-(\w+)">([^<]*)</p>')


def _flashes(page) -> list[tuple[str, str]]:
    return FLASH.findall(page.get_data(as_text=True))


def _save_new_entry(client, title: str):
    return client.form("/entries/new", {"title": title, "body": "text", "action": "save"})


def test_the_message_shows_on_the_next_page_and_only_there(auth_client):
    saved = _save_new_entry(auth_client, "Shown once")
    assert saved.status_code == 302

    assert _flashes(auth_client.get(saved.headers["Location"])) == [("success", "Entry saved.")]
    assert _flashes(auth_client.get("/entries")) == []


def test_a_signed_out_visit_is_told_to_log_in(client, user):
    page = client.get("/entries", follow_redirects=True)
    assert page.request.path == "/login"
    assert _flashes(page) == [("info", "Please log in to see that page.")]


def test_messages_wait_through_a_redirect_that_does_not_show_them(auth_client):
    auth_client.form("/logout")
    # The next page needs a login: it adds its own message and shows neither.
    page = auth_client.get("/entries", follow_redirects=True)
    assert _flashes(page) == [
        ("info", "You are logged out."),
        ("info", "Please log in to see that page."),
    ]


def test_a_forged_or_garbled_cookie_shows_nothing(auth_client):
    for value in ("not-signed", '[["success","Forged."]]', "eyJ4IjoxfQ.abc.def", "\u202e" * 10):
        auth_client.set_cookie(COOKIE, value)
        page = auth_client.get("/entries")
        assert page.status_code == 200
        assert _flashes(page) == []


def test_a_cookie_signed_for_another_purpose_is_not_taken_as_a_message(app, auth_client):
    from itsdangerous import URLSafeTimedSerializer

    other = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps([["x", "Hi"]])
    auth_client.set_cookie(COOKIE, other)
    assert _flashes(auth_client.get("/entries")) == []


def test_a_save_and_its_page_leave_the_session_row_alone(app, auth_client):
    auth_client.get("/entries")  # any first-visit session writes are done
    written: list[str] = []

    def note(conn, cursor, statement, *_args):
        if "web_session" in statement and not statement.lstrip().upper().startswith("SELECT"):
            written.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        saved = _save_new_entry(auth_client, "No session write")
        shown = auth_client.get(saved.headers["Location"])
    finally:
        event.remove(engine, "before_cursor_execute", note)

    assert _flashes(shown) == [("success", "Entry saved.")]
    assert written == []


def test_the_cookie_is_http_only_and_expires_soon(auth_client):
    saved = _save_new_entry(auth_client, "Cookie flags")
    cookie = next(
        c for c in saved.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")
    ).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=120" in cookie
