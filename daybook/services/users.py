"""Accounts: create, change and delete users."""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.models import LoginSession, User
from daybook.services import passwords, tokens

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
NOT_CURRENT = "This is not your current password."


@cache
def timezone_names() -> tuple[str, ...]:
    """Return the time zones a user may choose, sorted (read from the system once)."""
    return tuple(sorted(available_timezones() | {"UTC"}))


def count_users() -> int:
    """Return how many accounts exist."""
    return db.session.scalar(sa.select(sa.func.count(User.id))) or 0


def get_user(user_id: int) -> User:
    """Return a user by id.

    Raises: NotFound.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def find_user(login: str) -> User | None:
    """Return the user whose username or email is `login`, ignoring case."""
    login = (login or "").strip().lower()
    if not login:
        return None
    column = User.email if "@" in login else User.username
    return db.session.scalar(sa.select(User).where(sa.func.lower(column) == login))


def list_users() -> list[User]:
    """Return every user, oldest first."""
    return list(db.session.scalars(sa.select(User).order_by(User.id)))


def _username_problem(username: str) -> str | None:
    if not USERNAME_RE.fullmatch(username):
        return "Use 3–32 characters: lowercase letters, digits, _ . or -."
    taken = db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username))
    return "This username is taken." if taken else None


def _normalise_email(email: str, errors: dict[str, str], *, exclude_id: int | None = None) -> str:
    try:
        # Deliverability would need DNS, which a self-hosted journal may not have.
        email = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        errors["email"] = str(exc)
        return email
    query = sa.select(User.id).where(sa.func.lower(User.email) == email.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query):
        errors["email"] = "This email address is already in use."
    return email


def _check_new_password(
    password: str, confirm: str | None, errors: dict[str, str], field: str
) -> None:
    problem = passwords.password_problem(password)
    if problem:
        errors[field] = problem
    elif confirm is not None and confirm != password:
        errors[field + "_confirm"] = "The two passwords differ."


def new_user(
    *,
    username: str,
    email: str,
    password: str,
    password_confirm: str | None = None,
    is_admin: bool = False,
) -> User:
    """Validate an account and add it to the session without committing.

    Raises: ValidationError naming each bad field.
    """
    username = (username or "").strip().lower()
    errors: dict[str, str] = {}
    problem = _username_problem(username)
    if problem:
        errors["username"] = problem
    email = _normalise_email(email or "", errors)
    _check_new_password(password or "", password_confirm, errors, "password")
    if errors:
        raise ValidationError(errors)
    user = User(
        username=username,
        email=email,
        password_hash=passwords.hash_password(password),
        is_admin=is_admin,
        preferences={},
    )
    db.session.add(user)
    return user


def commit_new_user() -> None:
    """Commit a new account, answering a lost race for its name or email as a field error.

    Raises: ValidationError when another account took the username or email meanwhile.
    """
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        # Two requests can both pass the checks before either commits; the unique index decides.
        if "email" in str(exc.orig):
            raise ValidationError({"email": "This email address is already in use."}) from None
        raise ValidationError({"username": "This username is taken."}) from None


def create_user(
    *,
    username: str,
    email: str,
    password: str,
    password_confirm: str | None = None,
    is_admin: bool = False,
) -> User:
    """Create an account.

    Raises: ValidationError naming each bad field.
    """
    user = new_user(
        username=username,
        email=email,
        password=password,
        password_confirm=password_confirm,
        is_admin=is_admin,
    )
    commit_new_user()
    return user


def set_password(user: User, new_password: str, confirm: str | None = None) -> None:
    """Give a user a new password and end every login they had.

    Raises: ValidationError.
    """
    errors: dict[str, str] = {}
    _check_new_password(new_password or "", confirm, errors, "new_password")
    if errors:
        raise ValidationError(errors)
    user.password_hash = passwords.hash_password(new_password)
    db.session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
    tokens.revoke_all(user.id)
    db.session.commit()


def change_password(user: User, *, current_password: str, new_password: str, confirm: str) -> None:
    """Change a password after checking the current one; every login ends.

    Raises: ValidationError.
    """
    if not passwords.verify_password(user.password_hash, current_password or ""):
        raise ValidationError({"current_password": NOT_CURRENT})
    set_password(user, new_password, confirm)


def change_email(user: User, *, email: str, current_password: str) -> None:
    """Change the email address after checking the password.

    Raises: ValidationError.
    """
    errors: dict[str, str] = {}
    if not passwords.verify_password(user.password_hash, current_password or ""):
        errors["current_password"] = NOT_CURRENT
    new_email = _normalise_email(email or "", errors, exclude_id=user.id)
    if errors:
        raise ValidationError(errors)
    user.email = new_email
    db.session.commit()


def set_timezone(user: User, timezone: str) -> None:
    """Set the time zone dates are shown in.

    Raises: ValidationError.
    """
    if timezone not in timezone_names():
        raise ValidationError({"timezone": "Choose a time zone from the list."})
    user.timezone = timezone
    db.session.commit()


def delete_user(user: User, *, current_password: str | None = None) -> None:
    """Delete an account with all its data; the password is checked when given.

    Raises: ValidationError.
    """
    if current_password is not None and not passwords.verify_password(
        user.password_hash, current_password
    ):
        raise ValidationError({"current_password": NOT_CURRENT})
    from daybook.services import search  # entries' index rows go with them

    search.unindex_user(user.id)
    db.session.delete(user)
    db.session.commit()
