"""Setup, registration, login, logout and the login throttle, through the pages."""

from __future__ import annotations

import contextvars
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from daybook.extensions import db
from daybook.models import Invite, LoginAttempt, User, WebSession, utcnow
from daybook.services import auth, passwords, users
from tests.conftest import login
from tests.factories import PASSWORD, csrf_token_from

GOOD = "a long enough secret"
ACCOUNT = {
    "username": "carol",
    "email": "carol@example.com",
    "password": GOOD,
    "password_confirm": GOOD,
}


def is_logged_in(client) -> bool:
    """Tell whether the client's cookies still open the settings page."""
    return client.get("/settings").status_code == 200


def post_login(client, login_name: str = "alice", password: str = PASSWORD, **extra):
    """Post the login form with a fresh CSRF token."""
    client.fetch_csrf("/login")
    return client.form("/login", {"login": login_name, "password": password, **extra})


def cookie_value(client, name: str) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


@pytest.fixture
def fast_hashing(app, monkeypatch):
    """Make every hash cheap to verify, so tests that fail many logins stay quick."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
    db.session.execute(sa.update(User).values(password_hash=cheap.hash(PASSWORD)))
    db.session.commit()


# First run ------------------------------------------------------------------------------------


def test_without_accounts_everything_leads_to_setup(client):
    assert client.get("/").headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"
    page = client.get("/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for name in ACCOUNT:
        assert f'name="{name}"' in html


def test_setup_creates_an_admin_and_logs_in(client):
    client.fetch_csrf("/setup")
    response = client.form("/setup", ACCOUNT)
    assert response.status_code == 302
    assert response.headers["Location"] == "/entries/new"
    carol = users.find_user("carol")
    assert carol.is_admin and carol.email == "carol@example.com"
    assert carol.password_hash.startswith("$argon2id$")
    assert is_logged_in(client)


def test_setup_is_gone_once_an_account_exists(client, user):
    assert client.get("/setup").status_code == 404
    assert client.get("/").headers["Location"] == "/login"
    client.fetch_csrf("/login")
    assert client.form("/setup", ACCOUNT).status_code == 404
    assert users.count_users() == 1


def test_root_sends_a_logged_in_user_to_their_entries(auth_client):
    assert auth_client.get("/").headers["Location"] == "/entries"


def test_setup_errors_keep_input_but_never_the_password(client):
    client.fetch_csrf("/setup")
    response = client.form(
        "/setup", {**ACCOUNT, "email": "not-an-email", "password_confirm": "something else"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="carol"' in html and 'value="not-an-email"' in html
    assert GOOD not in html and "something else" not in html
    assert "The two passwords differ." in html
    assert users.count_users() == 0


def test_setup_refused_without_csrf_token(client):
    client.get("/setup")
    response = client.post("/setup", data=ACCOUNT)
    assert response.status_code == 400
    assert users.count_users() == 0


# Registration ---------------------------------------------------------------------------------


def test_registration_closed_by_default(client, user):
    assert client.get("/register").status_code == 404
    client.fetch_csrf("/login")
    assert client.form("/register", ACCOUNT).status_code == 404
    assert users.count_users() == 1


@pytest.mark.parametrize("mode", ["open", "invite"])
def test_registration_waits_for_setup(make_app, mode):
    assert make_app(REGISTRATION=mode).test_client().get("/register").status_code == 404


def test_open_registration_creates_a_plain_account(make_app, user):
    client = make_app(REGISTRATION="open").test_client()
    html = client.get("/register").get_data(as_text=True)
    assert all(f'name="{name}"' in html for name in ACCOUNT)
    client.fetch_csrf("/register")
    response = client.form("/register", ACCOUNT)
    assert response.status_code == 302 and response.headers["Location"] == "/entries"
    assert not users.find_user("carol").is_admin
    assert is_logged_in(client)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "ALICE", "This username is taken."),
        ("username", "no spaces", "Use 3–32 characters"),
        ("email", "Alice@Example.com", "This email address is already in use."),
        ("password", "qwertyuiop", "too common"),
        ("password", "short", "Use at least 10 characters."),
    ],
)
def test_open_registration_errors(make_app, user, field, value, message):
    client = make_app(REGISTRATION="open").test_client()
    client.fetch_csrf("/register")
    response = client.form("/register", {**ACCOUNT, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert users.count_users() == 1


def make_invite_link(admin_client) -> str:
    """Make an invite on the settings page and return its path."""
    response = admin_client.form("/settings/invites")
    assert response.status_code == 200
    url = re.search(r"<code[^>]*>([^<]+)</code>", response.get_data(as_text=True)).group(1)
    assert url.startswith("http://localhost/register?invite=")
    return url.removeprefix("http://localhost")


@pytest.fixture
def invite_app(make_app, user):
    app = make_app(REGISTRATION="invite")
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(invite_app):
    client = invite_app.test_client()
    login(client, "alice")
    return client


def test_invite_registration(invite_app, admin_client):
    link = make_invite_link(admin_client)
    client = invite_app.test_client()
    assert client.get("/register").status_code == 404
    page = client.get(link)
    assert page.status_code == 200
    token = link.split("=", 1)[1]
    assert f'name="invite" value="{token}"' in page.get_data(as_text=True)
    client.csrf = csrf_token_from(page.get_data(as_text=True))

    response = client.form("/register", {**ACCOUNT, "invite": token})
    assert response.status_code == 302 and response.headers["Location"] == "/entries"
    assert is_logged_in(client)
    assert db.session.scalar(sa.select(Invite.used_at)) is not None

    again = invite_app.test_client()
    assert again.get(link).status_code == 404
    again.fetch_csrf("/login")
    spent = again.form(
        "/register", {**ACCOUNT, "username": "dave", "email": "d@example.com", "invite": token}
    )
    assert spent.status_code == 404
    assert users.count_users() == 2


def test_invite_kept_after_bad_fields(invite_app, admin_client):
    token = make_invite_link(admin_client).split("=", 1)[1]
    client = invite_app.test_client()
    client.fetch_csrf("/login")
    response = client.form("/register", {**ACCOUNT, "password": "short", "invite": token})
    assert response.status_code == 400
    assert f'name="invite" value="{token}"' in response.get_data(as_text=True)
    assert auth.find_invite(token) is not None


@pytest.mark.parametrize("token", ["", "made-up-token", "x" * 500])
def test_bad_invites_are_404(invite_app, admin_client, token):
    make_invite_link(admin_client)
    client = invite_app.test_client()
    assert client.get(f"/register?invite={token}").status_code == 404
    client.fetch_csrf("/login")
    assert client.form("/register", {**ACCOUNT, "invite": token}).status_code == 404
    assert users.count_users() == 1


def test_expired_invite_is_404(invite_app, admin_client):
    link = make_invite_link(admin_client)
    db.session.execute(sa.update(Invite).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert invite_app.test_client().get(link).status_code == 404


def test_invite_from_the_command_line_works_on_the_page(invite_app):
    # In a copy of the context: the command marks it as writing, which must not outlive it.
    runner = invite_app.test_cli_runner()
    result = contextvars.copy_context().run(runner.invoke, args=["user", "invite", "alice"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("/register?invite=")
    assert invite_app.test_client().get(link).status_code == 200


# Logging in -----------------------------------------------------------------------------------


def test_login_page_has_the_fields(client, user):
    html = client.get("/login").get_data(as_text=True)
    for name in ("login", "password", "remember", "csrf_token"):
        assert f'name="{name}"' in html


@pytest.mark.parametrize("login_name", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_login_with_username_or_email(client, user, login_name):
    response = post_login(client, login_name)
    assert response.status_code == 302 and response.headers["Location"] == "/entries"
    assert is_logged_in(client)


def test_wrong_password_and_unknown_user_look_the_same(client, user):
    wrong = post_login(client, "alice", "wrong password")
    unknown = post_login(client, "nobody", "wrong password")
    assert wrong.status_code == unknown.status_code == 400
    message = "That username or email and password do not match."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert 'value="alice"' in wrong.get_data(as_text=True)
    assert "wrong password" not in wrong.get_data(as_text=True)
    assert not is_logged_in(client)


def test_session_id_changes_at_login(client, user):
    client.fetch_csrf("/login")
    before = cookie_value(client, "daybook_session")
    assert before
    post_login(client)
    after = cookie_value(client, "daybook_session")
    assert after and after != before
    stored = db.session.scalars(sa.select(WebSession.session_id)).all()
    assert not any(before in sid for sid in stored)
    assert any(after in sid for sid in stored)


def test_login_required_pages_send_back_after_login(client, user):
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fsettings"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/settings"' in page
    assert post_login(client, next="/settings").headers["Location"] == "/settings"


def test_next_keeps_a_local_query_string(client, user):
    response = post_login(client, next="/search?q=fts5&page=2")
    assert response.headers["Location"] == "/search?q=fts5&page=2"


HOSTILE_NEXT = [
    "//evil.com",
    "///evil.com",
    "https://evil.com",
    "http:evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,hi",
    " //evil.com",
    "/\t/evil.com",
    "/\r\nSet-Cookie: pwned=1",
    "/\nLocation: https://evil.com",
    "evil.com",
    "/\x00/evil.com",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leaves_the_site(client, user, target):
    response = post_login(client, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/entries"
    assert "pwned" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    "query",
    [
        "//evil.com",
        "https%3A%2F%2Fevil.com",
        "%2F%5Cevil.com",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:%20pwned=1",
    ],
)
def test_next_in_the_query_string_never_leaves_the_site(client, user, query):
    page = client.get(f"/login?next={query}").get_data(as_text=True)
    assert 'name="next"' not in page
    client.csrf = csrf_token_from(page)
    response = client.form(f"/login?next={query}", {"login": "alice", "password": PASSWORD})
    assert response.headers["Location"] == "/entries"
    assert "pwned" not in response.headers.get("Set-Cookie", "")


def test_logged_in_visit_to_login_redirects(auth_client):
    assert auth_client.get("/login").headers["Location"] == "/entries"
    assert auth_client.get("/login?next=/tags").headers["Location"] == "/tags"
    assert auth_client.get("/login?next=//evil.com").headers["Location"] == "/entries"


def test_login_refused_without_csrf_token(client, user):
    client.get("/login")
    response = client.post("/login", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert not is_logged_in(client)
    assert db.session.scalar(sa.select(sa.func.count(LoginAttempt.id))) == 0
    assert db.session.scalar(sa.select(User.last_seen_at)) is None


def test_login_refused_with_a_forged_csrf_token(client, user):
    client.get("/login")
    client.csrf = "forged"
    assert client.form("/login", {"login": "alice", "password": PASSWORD}).status_code == 400
    assert not is_logged_in(client)


def test_rehash_on_login_through_the_page(client, user):
    cheap = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    user.password_hash = old_hash = cheap.hash(PASSWORD)
    db.session.commit()
    assert post_login(client).status_code == 302
    new_hash = db.session.scalar(sa.select(User.password_hash))
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert passwords.verify_password(new_hash, PASSWORD) and not passwords.needs_rehash(new_hash)


# Remember me ----------------------------------------------------------------------------------


def test_no_remember_cookie_unless_asked(client, user):
    post_login(client)
    assert client.get_cookie("daybook_remember") is None
    session_cookie = client.get_cookie("daybook_session")
    assert session_cookie.expires is None and session_cookie.http_only


def test_remember_cookie_lasts_30_days_httponly_lax(client, user):
    post_login(client, remember="1")
    cookie = client.get_cookie("daybook_remember")
    assert cookie is not None
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(cookie.expires - expected) < timedelta(minutes=5)
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure


def test_remember_cookie_alone_logs_in_with_a_fresh_session(app, client, user):
    post_login(client, remember="1")
    remember = cookie_value(client, "daybook_remember")
    fresh = app.test_client()
    fresh.get("/login")
    planted = cookie_value(fresh, "daybook_session")
    fresh.set_cookie("daybook_remember", remember)
    assert is_logged_in(fresh)
    assert cookie_value(fresh, "daybook_session") != planted


def test_cookies_are_secure_over_https(make_app, user):
    client = make_app(HTTPS="1").test_client()
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}
    client.csrf = csrf_token_from(client.get("/login", **https).get_data(as_text=True))
    response = client.form(
        "/login", {"login": "alice", "password": PASSWORD, "remember": "1"}, **https
    )
    assert response.status_code == 302
    assert client.get_cookie("daybook_remember").secure
    assert client.get_cookie("daybook_session").secure


# Logging out ----------------------------------------------------------------------------------


def test_logout_is_post_only(auth_client):
    assert auth_client.get("/logout").status_code == 405
    assert is_logged_in(auth_client)


def test_logout_refused_without_csrf_token(auth_client):
    assert auth_client.post("/logout").status_code == 400
    assert is_logged_in(auth_client)


def test_logout(auth_client):
    response = auth_client.form("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not is_logged_in(auth_client)
    assert "You are logged out." in auth_client.get("/login").get_data(as_text=True)


def test_old_session_cookie_is_dead_after_logout(app, auth_client):
    old_session = cookie_value(auth_client, "daybook_session")
    auth_client.form("/logout")
    replay = app.test_client()
    replay.set_cookie("daybook_session", old_session)
    assert not is_logged_in(replay)


def test_old_remember_cookie_is_dead_after_logout(app, client, user):
    post_login(client, remember="1")
    client.fetch_csrf("/settings")
    old_remember = cookie_value(client, "daybook_remember")
    before = app.test_client()
    before.set_cookie("daybook_remember", old_remember)
    assert is_logged_in(before)

    assert client.form("/logout").status_code == 302
    assert client.get_cookie("daybook_remember") is None
    replay = app.test_client()
    replay.set_cookie("daybook_remember", old_remember)
    assert not is_logged_in(replay)


def test_logout_ends_only_this_browser(app, auth_client, user):
    second = app.test_client()
    login(second, "alice")
    auth_client.form("/logout")
    assert is_logged_in(second)


def test_logout_after_the_login_ended_elsewhere(app, auth_client):
    other = app.test_client()
    login(other, "alice")
    other.form(
        "/settings/password",
        {"current_password": PASSWORD, "new_password": GOOD, "new_password_confirm": GOOD},
    )
    response = auth_client.form("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert is_logged_in(other)


# Throttle -------------------------------------------------------------------------------------


def fail_logins(client, login_name: str, times: int) -> None:
    for _ in range(times):
        assert post_login(client, login_name, "wrong password").status_code == 400


def assert_throttled(response) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60 + 1
    assert "Too many attempts. Try again in" in response.get_data(as_text=True)


def test_five_failures_throttle_even_the_right_password(client, user, fast_hashing):
    fail_logins(client, "alice", 5)
    assert_throttled(post_login(client))
    assert not is_logged_in(client)


def test_throttle_per_account_across_addresses(app, user, fast_hashing):
    for n in range(5):
        attacker = app.test_client()
        attacker.environ_base["REMOTE_ADDR"] = f"203.0.113.{n}"
        fail_logins(attacker, "alice", 1)
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert_throttled(post_login(owner))


def test_throttle_per_address_across_accounts(app, client, user, other_user, fast_hashing):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for name in ("x1", "x2", "x3", "x4", "alice"):
        fail_logins(client, name, 1)
    assert_throttled(post_login(client, "bob"))
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert post_login(elsewhere, "bob").status_code == 302


def test_throttle_holds_across_processes(make_app, user, fast_hashing):
    first, second = make_app(), make_app()
    fail_logins(first.test_client(), "alice", 3)
    fail_logins(second.test_client(), "alice", 2)
    assert_throttled(post_login(first.test_client()))
    assert_throttled(post_login(make_app().test_client()))


def test_success_clears_the_account_counter(app, user, fast_hashing):
    for address in ("203.0.113.1", "203.0.113.2"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        fail_logins(client, "alice", 4)
        assert post_login(client).status_code == 302
