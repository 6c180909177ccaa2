"""Account rules: usernames, emails, passwords, hashing and changes to an account."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.models import Entry, LoginSession, Tag, User
from daybook.services import auth, passwords, users
from tests.factories import PASSWORD, make_entry, make_user

GOOD = "a long enough secret"


def create(**fields) -> User:
    """Create a user through the service with valid defaults for the fields not given."""
    values = {
        "username": "carol",
        "email": "carol@example.com",
        "password": GOOD,
        "password_confirm": GOOD,
        **fields,
    }
    return users.create_user(**values)


def field_errors(**fields) -> dict[str, str]:
    """Return the field errors create_user reports for these fields."""
    with pytest.raises(ValidationError) as info:
        create(**fields)
    return info.value.fields


@pytest.mark.parametrize("username", ["abc", "a" * 32, "carol_1", "c.a-r_0l", "123", "..."])
def test_usernames_accepted(app, username):
    assert create(username=username).username == username


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 33, "", "car ol", "carol!", "carol@x", "çarol", "car\nol", "ca/rol", "ｃarol"],
)
def test_usernames_refused(app, username):
    assert "username" in field_errors(username=username)
    assert users.count_users() == 0


def test_username_is_stored_lowercase(app):
    assert create(username="  Carol  ").username == "carol"


def test_username_unique_ignoring_case(app, user):
    assert field_errors(username="ALICE")["username"] == "This username is taken."


@pytest.mark.parametrize(
    "email",
    [
        "",
        "carol",
        "carol@",
        "@example.com",
        "carol@@example.com",
        "carol@example..com",
        "carol example@example.com",
    ],
)
def test_invalid_emails_refused(app, email):
    assert "email" in field_errors(email=email)


def test_email_normalised_and_unique_ignoring_case(app, user):
    assert create(email=" Carol@EXAMPLE.com ").email == "Carol@example.com"
    assert field_errors(username="dave", email="ALICE@example.COM")["email"] == (
        "This email address is already in use."
    )


@pytest.mark.parametrize("password", ["short", "123456789", "a" * 9])
def test_short_passwords_refused(app, password):
    assert field_errors(password=password, password_confirm=password)["password"] == (
        "Use at least 10 characters."
    )


@pytest.mark.parametrize(
    "password", ["1234567890", "Password123", "qwertyuiop", "aaaaaaaaaaaa", "abababababab"]
)
def test_common_passwords_refused(app, password):
    assert "too common" in field_errors(password=password, password_confirm=password)["password"]


def test_overlong_password_refused(app):
    long = "xyz1" * 300
    assert "at most" in field_errors(password=long, password_confirm=long)["password"]


def test_mismatched_confirmation_refused(app):
    assert (
        field_errors(password_confirm=GOOD + "!")["password_confirm"] == "The two passwords differ."
    )


def test_every_bad_field_reported_at_once(app, user):
    errors = field_errors(username="x", email="nope", password="short")
    assert set(errors) == {"username", "email", "password"}
    assert users.count_users() == 1


def test_password_stored_as_argon2id(app):
    stored = create()
    assert stored.password_hash.startswith("$argon2id$")
    assert GOOD not in stored.password_hash
    assert passwords.verify_password(stored.password_hash, GOOD)
    assert not passwords.verify_password(stored.password_hash, GOOD + "x")


class CountingHasher:
    """Wrap the real hasher and note every hash it verifies against."""

    def __init__(self, real):
        self.real = real
        self.verified: list[str] = []

    def verify(self, password_hash, password):
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)


def test_verify_password_without_a_hash_costs_a_verification(monkeypatch):
    hasher = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    assert not passwords.verify_password(None, "not-a-real-password-but-the-same-cost")
    assert hasher.verified == [passwords._DUMMY_HASH]


def test_verify_password_rejects_malformed_hash():
    assert not passwords.verify_password("not a hash", PASSWORD)


def test_admin_flag_and_defaults(app):
    admin = create(is_admin=True)
    assert admin.is_admin and admin.timezone == "UTC" and admin.created_at is not None


def test_find_user_by_username_or_email_ignoring_case(app, user):
    assert users.find_user("ALICE") == user
    assert users.find_user(" Alice@Example.com ") == user
    assert users.find_user("nobody") is None
    assert users.find_user("") is None


def test_get_user_and_list_users(app, user, other_user):
    assert users.get_user(user.id) == user
    assert [u.username for u in users.list_users()] == ["alice", "bob"]
    with pytest.raises(NotFound):
        users.get_user(9999)


def test_set_password_ends_every_login(app, user):
    auth.start_login(user)
    auth.start_login(user)
    users.set_password(user, "a brand new secret")
    assert passwords.verify_password(user.password_hash, "a brand new secret")
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id))) == 0


def test_set_password_checks_rules(app, user):
    old_hash = user.password_hash
    with pytest.raises(ValidationError) as info:
        users.set_password(user, "qwertyuiop")
    assert "new_password" in info.value.fields
    assert user.password_hash == old_hash


def test_change_password_requires_current(app, user):
    with pytest.raises(ValidationError) as info:
        users.change_password(user, current_password="wrong", new_password=GOOD, confirm=GOOD)
    assert set(info.value.fields) == {"current_password"}
    assert passwords.verify_password(user.password_hash, PASSWORD)


def test_change_password_checks_confirmation(app, user):
    with pytest.raises(ValidationError) as info:
        users.change_password(user, current_password=PASSWORD, new_password=GOOD, confirm="other")
    assert "new_password_confirm" in info.value.fields


def test_change_password(app, user):
    users.change_password(user, current_password=PASSWORD, new_password=GOOD, confirm=GOOD)
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, GOOD)


def test_change_email(app, user):
    users.change_email(user, email="New@Example.com", current_password=PASSWORD)
    assert user.email == "New@example.com"


def test_change_email_to_own_address_in_other_case(app, user):
    users.change_email(user, email="ALICE@example.com", current_password=PASSWORD)
    assert user.email == "ALICE@example.com"


def test_change_email_requires_password_and_a_free_address(app, user, other_user):
    with pytest.raises(ValidationError) as info:
        users.change_email(user, email="BOB@example.com", current_password="wrong")
    assert set(info.value.fields) == {"current_password", "email"}
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "alice@example.com"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC"])
def test_set_timezone(app, user, zone):
    users.set_timezone(user, zone)
    assert user.timezone == zone


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "europe/paris", "../etc/passwd", "UTC "])
def test_set_timezone_refuses_unknown_zones(app, user, zone):
    with pytest.raises(ValidationError):
        users.set_timezone(user, zone)
    db.session.expire_all()
    assert db.session.get(User, user.id).timezone == "UTC"


def test_delete_user_takes_everything_with_it(app, user, other_user):
    make_entry(user, "Mine", tags="work")
    kept = make_entry(other_user, "Theirs", tags="work")
    auth.start_login(user)
    user_id = user.id
    users.delete_user(user, current_password=PASSWORD)
    assert db.session.get(User, user_id) is None
    assert db.session.scalars(sa.select(Entry.id)).all() == [kept.id]
    assert db.session.scalars(sa.select(Tag.user_id)).all() == [other_user.id]
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id))) == 0


def test_delete_user_checks_password(app, user):
    with pytest.raises(ValidationError):
        users.delete_user(user, current_password="wrong")
    assert users.count_users() == 1


def test_username_race_answered_as_validation_error(app, user, monkeypatch):
    # Two requests can both pass the check before either commits; the unique index decides.
    monkeypatch.setattr(users, "_username_problem", lambda username: None)
    assert field_errors(username="alice")["username"] == "This username is taken."
    assert users.count_users() == 1


def test_email_race_answered_as_validation_error(app, user, monkeypatch):
    real = users._normalise_email

    def unchecked(email, errors, *, exclude_id=None):
        return real(email, {}, exclude_id=exclude_id)

    monkeypatch.setattr(users, "_normalise_email", unchecked)
    assert "email" in field_errors(email="alice@example.com")


def test_make_user_helper_password(app):
    assert passwords.verify_password(make_user("erin").password_hash, PASSWORD)
