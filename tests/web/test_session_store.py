"""The database session store: one statement for the session and its login, "busy" pages
when it cannot be read."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from daybook.extensions import db
from daybook.models import LoginSession
from daybook.models.web_session import WebSession
from daybook.sessions import DatabaseSessionInterface
from tests.databases import only_on_sqlite
from tests.factories import csrf_token_from, statements_during


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
    # The session with its login is read without the write lock; the entry is written with it.
    assert writes[:1] == ["BEGIN"]
    assert writes[1:] and set(writes[1:]) == {"BEGIN IMMEDIATE"}
    assert reads_again and set(reads_again) == {"BEGIN"}


def _session_rows(app) -> list[tuple[str | None]]:
    with app.app_context():
        return db.session.execute(sa.select(WebSession.login_hash)).all()


def test_a_signed_in_page_reads_its_session_and_login_in_one_statement(app, auth_client):
    auth_client.get("/entries")
    statements = statements_during(app, lambda: auth_client.get("/entries/new"))
    assert [s for s in statements if "login_session" in s and "web_session" not in s] == []
    assert [s for s in statements if "login_session" in s and "web_session" in s]


def test_a_session_saved_before_the_login_hash_existed_still_signs_in_and_gains_it(
    app, auth_client
):
    with app.app_context():
        db.session.execute(sa.update(WebSession).values(login_hash=None))
        db.session.commit()
    # Read the old way, by the login token in its data, once; then saved with its hash.
    assert "Log out" in auth_client.get("/entries").get_data(as_text=True)
    assert [row.login_hash for row in _session_rows(app)] != [None]
    statements = statements_during(app, lambda: auth_client.get("/entries"))
    assert [s for s in statements if "login_session" in s and "web_session" not in s] == []


def test_ending_the_login_signs_the_session_out_though_it_is_read_with_the_session(
    app, auth_client
):
    assert auth_client.get("/entries").status_code == 200
    with app.app_context():
        db.session.execute(sa.delete(LoginSession))
        db.session.commit()
    page = auth_client.get("/entries")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
