"""When the database cannot read a session, pages say "busy" instead of failing."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from daybook.extensions import db
from daybook.sessions import DatabaseSessionInterface
from tests.databases import only_on_sqlite
from tests.factories import csrf_token_from


def _locked(*_args, **_kwargs):
    raise OperationalError("SELECT web_session", {}, Exception("database is locked"))


def test_an_unreadable_session_gets_the_busy_page_and_keeps_the_cookie(auth_client, monkeypatch):
    monkeypatch.setattr(DatabaseSessionInterface, "_retrieve_session_data", _locked)

    page = auth_client.get("/entries")

    assert page.status_code == 503
    assert "Try again in a moment" in page.get_data(as_text=True)
    assert "daybook_session" not in page.headers.get("Set-Cookie", "")
    assert auth_client.get("/healthz").status_code == 200

    monkeypatch.undo()
    assert auth_client.get("/entries").status_code == 200  # still signed in


@only_on_sqlite("BEGIN IMMEDIATE is how SQLite takes the write lock up front")
def test_each_request_begins_its_transactions_for_its_own_method(app, auth_client):
    # The session is read before any before_request hook runs, and gunicorn's threads serve
    # one request after another: a POST after a GET must still take the write lock for its
    # work, and a GET after a POST must not take it.
    begun: list[str] = []

    def note(conn, cursor, statement, *_args):
        if statement.startswith("BEGIN"):
            begun.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        auth_client.get("/entries")
        reads = list(begun)
        begun.clear()
        page = auth_client.get("/entries/new")
        begun.clear()
        auth_client.post(
            "/entries/new",
            data={
                "csrf_token": csrf_token_from(page.get_data(as_text=True)),
                "title": "Locked right",
                "action": "save",
            },
        )
        writes = list(begun)
        begun.clear()
        auth_client.get("/entries")
        reads_again = list(begun)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert reads and set(reads) == {"BEGIN"}
    # The session and the login are read without the write lock; the entry is written with it.
    assert writes[:2] == ["BEGIN", "BEGIN"]
    assert writes[2:] and set(writes[2:]) == {"BEGIN IMMEDIATE"}
    assert reads_again and set(reads_again) == {"BEGIN"}
