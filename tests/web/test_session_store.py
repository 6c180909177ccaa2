"""When the database cannot read a session, pages say "busy" instead of failing."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from daybook.sessions import DatabaseSessionInterface


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
