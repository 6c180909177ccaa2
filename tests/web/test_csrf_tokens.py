"""A session's signed CSRF token is signed once and stays good on every page."""

from __future__ import annotations

from tests.factories import csrf_token_from


def test_pages_of_one_session_carry_one_token_that_is_accepted(auth_client):
    first = csrf_token_from(auth_client.get("/entries/new").get_data(as_text=True))
    second = csrf_token_from(auth_client.get("/entries").get_data(as_text=True))
    assert first == second

    saved = auth_client.post(
        "/entries/new", data={"csrf_token": second, "title": "Token kept", "action": "save"}
    )
    assert saved.status_code == 302


def test_each_session_has_its_own_token(client, auth_client):
    mine = csrf_token_from(auth_client.get("/entries").get_data(as_text=True))
    theirs = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert mine != theirs

    refused = auth_client.post(
        "/entries/new", data={"csrf_token": theirs, "title": "Wrong token", "action": "save"}
    )
    assert refused.status_code == 400
