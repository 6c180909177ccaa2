"""Signing in: credentials, rehashing, the login throttle, login records and invites."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from daybook.errors import NotFound, Throttled, ValidationError
from daybook.extensions import db
from daybook.models import Invite, LoginAttempt, LoginSession, User, utcnow
from daybook.services import auth, passwords, users
from tests.factories import PASSWORD, make_user

GOOD = "a long enough secret"
ACCOUNT = {
    "username": "carol",
    "email": "carol@example.com",
    "password": GOOD,
    "password_confirm": GOOD,
}


@pytest.fixture
def fast_hashing(app, monkeypatch):
    """Make every hash cheap to verify, so tests that fail many logins stay quick."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
    db.session.execute(sa.update(User).values(password_hash=cheap.hash(PASSWORD)))
    db.session.commit()


def fail_login(login: str, times: int = 1, address: str | None = None) -> None:
    """Fail to log in as `login` this many times."""
    for _ in range(times):
        with pytest.raises(ValidationError):
            auth.authenticate(login, "wrong password", address=address)


def attempts() -> int:
    return db.session.scalar(sa.select(sa.func.count(LoginAttempt.id))) or 0


def test_authenticate_by_username_or_email(app, user):
    assert auth.authenticate("alice", PASSWORD) == user
    assert auth.authenticate("ALICE@example.com", PASSWORD) == user


def test_wrong_password_and_unknown_user_fail_alike(app, user):
    with pytest.raises(ValidationError) as wrong:
        auth.authenticate("alice", "wrong password")
    with pytest.raises(ValidationError) as unknown:
        auth.authenticate("nobody", PASSWORD)
    assert wrong.value.fields == unknown.value.fields == {"login": auth.BAD_CREDENTIALS}


def test_empty_credentials_fail(app, user):
    with pytest.raises(ValidationError):
        auth.authenticate("", "")
    with pytest.raises(ValidationError):
        auth.authenticate("alice", "")


def test_rehash_on_login_when_parameters_change(app):
    cheap = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    account = make_user("carol")
    account.password_hash = cheap.hash(PASSWORD)
    db.session.commit()
    old_hash = account.password_hash
    assert passwords.needs_rehash(old_hash)

    auth.authenticate("carol", PASSWORD)
    db.session.expire_all()
    new_hash = db.session.get(User, account.id).password_hash
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert not passwords.needs_rehash(new_hash)
    assert passwords.verify_password(new_hash, PASSWORD)


def test_no_rehash_when_parameters_are_current(app, user):
    old_hash = user.password_hash
    auth.authenticate("alice", PASSWORD)
    assert user.password_hash == old_hash


def test_five_failures_throttle_the_account_even_with_the_right_password(app, user, fast_hashing):
    fail_login("alice", auth.THROTTLE_MAX_FAILURES)
    with pytest.raises(Throttled) as info:
        auth.authenticate("alice", PASSWORD)
    assert 0 < info.value.retry_after <= auth.THROTTLE_WINDOW.total_seconds() + 1


def test_four_failures_do_not_throttle(app, user, fast_hashing):
    fail_login("alice", auth.THROTTLE_MAX_FAILURES - 1)
    assert auth.authenticate("alice", PASSWORD) == user


def test_username_and_email_share_the_account_counter(app, user, fast_hashing):
    fail_login("alice", 3)
    fail_login("ALICE@example.com", 2)
    with pytest.raises(Throttled):
        auth.authenticate("alice", PASSWORD)


def test_unknown_logins_are_throttled_too(app, fast_hashing):
    fail_login("nobody", auth.THROTTLE_MAX_FAILURES)
    with pytest.raises(Throttled):
        auth.authenticate("nobody", "anything at all")


def test_throttle_per_address_across_accounts(app, user, other_user, fast_hashing):
    for name in ("x1", "x2", "x3", "x4", "x5"):
        fail_login(name, address="203.0.113.9")
    with pytest.raises(Throttled):
        auth.authenticate("alice", PASSWORD, address="203.0.113.9")
    assert auth.authenticate("alice", PASSWORD, address="198.51.100.1") == user


def test_throttle_does_not_count_throttled_attempts(app, user, fast_hashing):
    fail_login("alice", auth.THROTTLE_MAX_FAILURES)
    before = attempts()
    with pytest.raises(Throttled):
        auth.authenticate("alice", "wrong password")
    assert attempts() == before


def test_throttle_lifts_when_the_window_passes(app, user, fast_hashing):
    fail_login("alice", auth.THROTTLE_MAX_FAILURES)
    db.session.execute(
        sa.update(LoginAttempt).values(
            attempted_at=utcnow() - auth.THROTTLE_WINDOW - timedelta(seconds=1)
        )
    )
    db.session.commit()
    assert auth.authenticate("alice", PASSWORD) == user


def test_retry_after_counts_from_the_oldest_failure(app, user, fast_hashing):
    fail_login("alice", auth.THROTTLE_MAX_FAILURES)
    db.session.execute(
        sa.update(LoginAttempt).values(attempted_at=utcnow() - timedelta(minutes=10))
    )
    db.session.commit()
    with pytest.raises(Throttled) as info:
        auth.authenticate("alice", PASSWORD)
    assert 290 <= info.value.retry_after <= 301


def test_success_clears_the_account_counter_only(app, user, fast_hashing):
    fail_login("alice", 4, address="203.0.113.9")
    auth.authenticate("alice", PASSWORD, address="203.0.113.9")
    keys = db.session.scalars(sa.select(LoginAttempt.key).distinct()).all()
    assert keys == ["addr:203.0.113.9"]
    fail_login("alice", 4)
    assert auth.authenticate("alice", PASSWORD) == user


def test_old_attempts_are_pruned(app, user, fast_hashing):
    fail_login("alice")
    db.session.execute(sa.update(LoginAttempt).values(attempted_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    fail_login("bob")
    assert attempts() == 1


def test_login_record_round_trip(app, user):
    token = auth.start_login(user, user_agent="Firefox" * 100)
    assert len(token) >= 32
    row = db.session.scalar(sa.select(LoginSession))
    assert row.token_hash != token and len(row.user_agent) == 200
    assert row.expires_at - row.created_at == timedelta(days=30)
    assert auth.load_login(token) == user
    auth.end_login(token)
    assert auth.load_login(token) is None


def test_the_loaded_user_is_saved_like_any_other(app, user):
    token = auth.start_login(user)
    user_id, username, password_hash = user.id, user.username, user.password_hash
    db.session.remove()  # a new request: nothing loaded yet

    loaded = auth.load_login(token)
    assert (loaded.id, loaded.username, loaded.timezone) == (user_id, username, "UTC")
    assert loaded in db.session and loaded not in db.session.dirty
    loaded.timezone = "Europe/Paris"
    db.session.commit()

    db.session.remove()
    stored = db.session.get(User, user_id)
    assert (stored.timezone, stored.password_hash) == ("Europe/Paris", password_hash)


def test_a_user_already_in_the_session_is_the_one_loaded(app, user):
    token = auth.start_login(user)
    assert auth.load_login(token) is user


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 101])
def test_load_login_refuses_unknown_tokens(app, user, token):
    auth.start_login(user)
    assert auth.load_login(token) is None


def test_expired_login_does_not_load_and_is_pruned(app, user):
    token = auth.start_login(user)
    db.session.execute(sa.update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert auth.load_login(token) is None
    auth.start_login(user)
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id))) == 1


def test_end_login_ends_only_that_login(app, user):
    first, second = auth.start_login(user), auth.start_login(user)
    auth.end_login(first)
    auth.end_login(None)
    assert auth.load_login(first) is None and auth.load_login(second) == user


def test_only_admins_invite(app, user, other_user):
    with pytest.raises(NotFound):
        auth.create_invite(other_user)
    token = auth.create_invite(user)
    assert auth.find_invite(token) is not None
    assert db.session.scalar(sa.select(Invite.token_hash)) != token


def test_invite_is_spent_by_registering(app, user):
    token = auth.create_invite(user)
    carol = auth.register_with_invite(token, **ACCOUNT)
    assert carol.username == "carol" and not carol.is_admin
    assert auth.find_invite(token) is None
    with pytest.raises(NotFound):
        auth.register_with_invite(
            token, **{**ACCOUNT, "username": "dave", "email": "d@example.com"}
        )
    assert users.count_users() == 2


def test_invite_kept_when_fields_are_bad(app, user):
    token = auth.create_invite(user)
    with pytest.raises(ValidationError):
        auth.register_with_invite(token, **{**ACCOUNT, "password_confirm": "different"})
    assert auth.find_invite(token) is not None
    assert users.count_users() == 1


def test_invite_claimed_meanwhile_is_refused(app, user, monkeypatch):
    token = auth.create_invite(user)
    invite = auth.find_invite(token)
    # Another request spends the invite between our check and our claim.
    db.session.execute(sa.update(Invite).values(used_at=utcnow()))
    monkeypatch.setattr(auth, "find_invite", lambda _token: invite)
    with pytest.raises(NotFound):
        auth.register_with_invite(token, **ACCOUNT)
    assert users.count_users() == 1


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 101])
def test_unknown_invites_are_refused(app, user, token):
    auth.create_invite(user)
    assert auth.find_invite(token) is None
    with pytest.raises(NotFound):
        auth.register_with_invite(token, **ACCOUNT)


def test_expired_invite_is_refused(app, user):
    token = auth.create_invite(user)
    db.session.execute(sa.update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert auth.find_invite(token) is None
