"""The settings page: password, email, time zone, invites and deleting the account."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, LoginSession, Tag, User
from daybook.services import passwords, users
from tests.conftest import login
from tests.factories import PASSWORD, make_entry, statements_during

NEW = "a brand new secret"


def is_logged_in(client) -> bool:
    """Tell whether the client's cookies still open the settings page."""
    return client.get("/settings").status_code == 200


def stored(username: str = "alice") -> User:
    """Return the user as the database holds it now."""
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def error_for(html: str, field_id: str) -> str | None:
    """Return the error message shown next to the field with this id, if any."""
    match = re.search(rf'<p class="error" id="e-{field_id}">([^<]*)</p>', html)
    return match.group(1) if match else None


def change_password(client, current: str = PASSWORD, new: str = NEW, confirm: str | None = None):
    return client.form(
        "/settings/password",
        {
            "current_password": current,
            "new_password": new,
            "new_password_confirm": new if confirm is None else confirm,
        },
    )


def test_settings_need_login(client, user):
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fsettings"


@pytest.mark.parametrize(
    "path",
    [
        "/settings/password",
        "/settings/email",
        "/settings/timezone",
        "/settings/invites",
        "/settings/delete",
    ],
)
def test_settings_posts_need_login(client, user, path):
    client.fetch_csrf("/login")
    response = client.form(path, {"current_password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert stored().email == "alice@example.com"


def test_settings_page(auth_client):
    html = auth_client.get("/settings").get_data(as_text=True)
    assert "alice@example.com" in html
    for name in ("current_password", "new_password", "new_password_confirm", "email", "timezone"):
        assert f'name="{name}"' in html
    assert '<option value="Europe/Paris"' in html
    assert 'href="/settings/delete"' in html


# Password ---------------------------------------------------------------------------------------


def test_change_password_ends_other_sessions_but_not_this_one(app, auth_client, other_client):
    elsewhere = app.test_client()
    login(elsewhere, "alice")
    response = change_password(auth_client)
    assert response.status_code == 302 and response.headers["Location"] == "/settings"
    page = auth_client.get("/settings")
    assert page.status_code == 200 and "Password changed." in page.get_data(as_text=True)
    assert not is_logged_in(elsewhere)
    assert is_logged_in(other_client)
    assert (
        db.session.scalar(
            sa.select(sa.func.count(LoginSession.id)).where(LoginSession.user_id == stored().id)
        )
        == 1
    )


def test_changed_password_is_the_one_that_works(app, auth_client):
    change_password(auth_client)
    hashed = stored().password_hash
    assert hashed.startswith("$argon2id$") and passwords.verify_password(hashed, NEW)
    fresh = app.test_client()
    fresh.fetch_csrf("/login")
    assert fresh.form("/login", {"login": "alice", "password": PASSWORD}).status_code == 400
    assert fresh.form("/login", {"login": "alice", "password": NEW}).status_code == 302


def test_password_change_ends_other_remember_me_cookies(app, client, user):
    login(client, "alice", remember="1")
    old_remember = client.get_cookie("daybook_remember").value
    other = app.test_client()
    login(other, "alice")
    change_password(other)
    replay = app.test_client()
    replay.set_cookie("daybook_remember", old_remember)
    assert not is_logged_in(replay)


def test_password_change_keeps_this_browser_remembered(app, client, user):
    login(client, "alice", remember="1")
    old_remember = client.get_cookie("daybook_remember").value
    change_password(client)
    new_remember = client.get_cookie("daybook_remember").value
    assert new_remember != old_remember
    replay = app.test_client()
    replay.set_cookie("daybook_remember", new_remember)
    assert is_logged_in(replay)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("wrong password", NEW, NEW, "current_password", "This is not your current password."),
        (PASSWORD, "short", "short", "new_password", "Use at least 10 characters."),
        (PASSWORD, "qwertyuiop", "qwertyuiop", "new_password", "too common"),
        (PASSWORD, NEW, NEW + "!", "new_password_confirm", "The two passwords differ."),
    ],
)
def test_change_password_errors(app, auth_client, current, new, confirm, field, message):
    elsewhere = app.test_client()
    login(elsewhere, "alice")
    response = change_password(auth_client, current, new, confirm)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in error_for(html, field)
    assert new not in html and current not in html
    assert passwords.verify_password(stored().password_hash, PASSWORD)
    assert is_logged_in(auth_client) and is_logged_in(elsewhere)


def test_change_password_refused_without_csrf_token(auth_client):
    old_hash = stored().password_hash
    response = auth_client.post(
        "/settings/password",
        data={"current_password": PASSWORD, "new_password": NEW, "new_password_confirm": NEW},
    )
    assert response.status_code == 400
    assert stored().password_hash == old_hash


# Email ------------------------------------------------------------------------------------------


def test_change_email(auth_client):
    response = auth_client.form(
        "/settings/email", {"email": "Alice@New.example", "current_password": PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/settings"
    assert stored().email == "Alice@new.example"
    assert "Alice@new.example" in auth_client.get("/settings").get_data(as_text=True)


def test_change_email_needs_the_password(auth_client):
    response = auth_client.form(
        "/settings/email", {"email": "alice@new.example", "current_password": "wrong password"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert error_for(html, "email-password") == "This is not your current password."
    # The message belongs to the email form, not to the password form above it.
    assert error_for(html, "current_password") is None
    assert 'value="alice@new.example"' in html and "wrong password" not in html
    assert stored().email == "alice@example.com"


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("BOB@example.com", "This email address is already in use."),
        ("not an email", "email"),
        ("", "email"),
    ],
)
def test_change_email_errors(auth_client, other_user, email, message):
    response = auth_client.form("/settings/email", {"email": email, "current_password": PASSWORD})
    assert response.status_code == 400
    assert message in error_for(response.get_data(as_text=True), "email")
    assert stored().email == "alice@example.com"


def test_change_email_refused_without_csrf_token(auth_client):
    response = auth_client.post(
        "/settings/email", data={"email": "a@new.example", "current_password": PASSWORD}
    )
    assert response.status_code == 400
    assert stored().email == "alice@example.com"


# Time zone --------------------------------------------------------------------------------------


def test_set_time_zone(auth_client):
    response = auth_client.form("/settings/timezone", {"timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert stored().timezone == "Asia/Tokyo"
    assert '<option value="Asia/Tokyo" selected>' in auth_client.get("/settings").get_data(
        as_text=True
    )


def test_a_settings_change_writes_only_what_changed(app, auth_client):
    # The signed-in user is built from the session's row, not loaded by the ORM: it must still
    # be attached as unchanged, or saving one setting would write every column.
    statements = statements_during(
        app, lambda: auth_client.form("/settings/timezone", {"timezone": "Asia/Tokyo"})
    )
    updates = [s for s in statements if s.startswith(('UPDATE "user"', "UPDATE user"))]
    assert len(updates) == 1
    assert updates[0].split(" SET ")[1].split(" WHERE ")[0].startswith("timezone=")
    assert "password_hash" not in updates[0] and "email" not in updates[0]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "<script>"])
def test_invalid_time_zone(auth_client, zone):
    response = auth_client.form("/settings/timezone", {"timezone": zone})
    assert response.status_code == 400
    assert "Choose a time zone from the list." in response.get_data(as_text=True)
    assert "<script>" not in response.get_data(as_text=True)
    assert stored().timezone == "UTC"


# Invites ----------------------------------------------------------------------------------------


def test_invite_section_only_for_admins_in_invite_mode(make_app, user, other_user):
    app = make_app(REGISTRATION="invite")
    admin, member = app.test_client(), app.test_client()
    login(admin, "alice")
    login(member, "bob")
    assert 'action="/settings/invites"' in admin.get("/settings").get_data(as_text=True)
    assert 'action="/settings/invites"' not in member.get("/settings").get_data(as_text=True)
    assert member.form("/settings/invites").status_code == 404


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_no_invites_unless_invite_mode(make_app, user, mode):
    client = make_app(REGISTRATION=mode).test_client()
    login(client, "alice")
    assert 'action="/settings/invites"' not in client.get("/settings").get_data(as_text=True)
    assert client.form("/settings/invites").status_code == 404


def test_invite_refused_without_csrf_token(make_app, user):
    client = make_app(REGISTRATION="invite").test_client()
    login(client, "alice")
    assert client.post("/settings/invites").status_code == 400


# Deleting the account ---------------------------------------------------------------------------


def test_delete_asks_for_confirmation(auth_client):
    response = auth_client.get("/settings/delete")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="current_password"' in html and 'action="/settings/delete"' in html
    assert users.count_users() == 1


def test_delete_account_takes_all_its_data(app, auth_client, user, other_user):
    for n in range(3):
        make_entry(user, f"Mine {n}", tags="work, private")
    theirs = make_entry(other_user, "Theirs", tags="work")
    elsewhere = app.test_client()
    login(elsewhere, "alice", remember="1")
    user_id = user.id

    response = auth_client.form("/settings/delete", {"current_password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert stored() is None
    assert db.session.scalars(sa.select(Entry.id)).all() == [theirs.id]
    assert db.session.scalars(sa.select(Tag.user_id)).all() == [other_user.id]
    assert (
        db.session.scalar(
            sa.select(sa.func.count(LoginSession.id)).where(LoginSession.user_id == user_id)
        )
        == 0
    )
    assert not is_logged_in(auth_client) and not is_logged_in(elsewhere)
    assert auth_client.get_cookie("daybook_remember") is None


def test_other_user_untouched_by_a_deletion(app, auth_client, other_client, other_user):
    make_entry(other_user, "Still here", body="Bob's words.")
    auth_client.form("/settings/delete", {"current_password": PASSWORD})
    assert is_logged_in(other_client)
    assert "Still here" in other_client.get("/entries").get_data(as_text=True)
    assert "Still here" in other_client.get("/search?q=words").get_data(as_text=True)


def test_delete_needs_the_password(auth_client, user):
    make_entry(user, "Kept")
    response = auth_client.form("/settings/delete", {"current_password": "wrong password"})
    assert response.status_code == 400
    assert "This is not your current password." in response.get_data(as_text=True)
    assert stored() is not None and db.session.scalar(sa.select(sa.func.count(Entry.id))) == 1
    assert is_logged_in(auth_client)


def test_delete_refused_without_csrf_token(auth_client):
    response = auth_client.post("/settings/delete", data={"current_password": PASSWORD})
    assert response.status_code == 400
    assert stored() is not None


def test_deleting_the_last_account_returns_to_setup(auth_client):
    response = auth_client.form("/settings/delete", {"current_password": PASSWORD})
    assert response.headers["Location"] == "/setup"
    assert users.count_users() == 0
    assert auth_client.get("/setup").status_code == 200
