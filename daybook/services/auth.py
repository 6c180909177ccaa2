"""Signing in: checking credentials, the login throttle, login records and invites."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from daybook.database import read_apart
from daybook.errors import NotFound, Throttled, ValidationError
from daybook.extensions import db
from daybook.models import Invite, LoginAttempt, LoginSession, User, utcnow
from daybook.services import passwords, users

THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_MAX_FAILURES = 5
LOGIN_LIFETIME = timedelta(days=30)
INVITE_LIFETIME = timedelta(days=7)
BAD_CREDENTIALS = "That username or email and password do not match."
# Every signed-in request runs this: built once, on the tables' columns (the user's columns
# first, then the login's expiry), so it skips the ORM's compile and loading stages.
_users = User.__table__
_logins = LoginSession.__table__
LOGIN_COLUMNS = (*_users.c, _logins.c.expires_at)
_USER_KEYS = tuple(_users.c.keys())
_new_user = User.__mapper__.class_manager.new_instance
_LOGIN_BY_TOKEN = (
    sa.select(*LOGIN_COLUMNS)
    .join(_logins, _logins.c.user_id == _users.c.id)
    .where(_logins.c.token_hash == sa.bindparam("token_hash"))
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The session store (daybook.sessions) keeps this digest of a session's login beside it.
login_digest = _digest


def prefetch_login(token_hash: str | None, row: tuple | None) -> None:
    """Hand load_login the LOGIN_COLUMNS of a login the session store has read with the session
    (None: no such login), so that it need not read them again."""
    g.daybook_prefetched_login = (token_hash, row)


def _throttle_keys(user: User | None, login: str, address: str | None) -> list[str]:
    # One counter per account, whether it was named by username or by email.
    account = f"user:{user.id}" if user else "login:" + (login or "").strip().lower()[:250]
    keys = [account]
    if address:
        keys.append("addr:" + address[:250])
    return keys


def _check_throttle(keys: list[str], now: datetime) -> None:
    since = now - THROTTLE_WINDOW
    for key in keys:
        failures = db.session.execute(
            sa.select(sa.func.count(LoginAttempt.id), sa.func.min(LoginAttempt.attempted_at)).where(
                LoginAttempt.key == key, LoginAttempt.attempted_at > since
            )
        ).one()
        if failures[0] >= THROTTLE_MAX_FAILURES:
            oldest = failures[1]
            raise Throttled(max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1))


def authenticate(login: str, password: str, *, address: str | None = None) -> User:
    """Return the user these credentials name, counting failures against the throttle.

    Raises: Throttled when too many recent failures; ValidationError for bad credentials.
    """
    now = utcnow()
    user = users.find_user(login)
    keys = _throttle_keys(user, login, address)
    _check_throttle(keys, now)
    password_hash = user.password_hash if user else None
    # argon2 takes a quarter of a second: on SQLite, holding the write lock through it would
    # make every other write wait for each login.
    db.session.commit()
    # verify_password spends the same time whether or not the user exists.
    if not passwords.verify_password(password_hash, password or ""):
        db.session.add_all(LoginAttempt(key=key, attempted_at=now) for key in keys)
        db.session.execute(
            sa.delete(LoginAttempt).where(LoginAttempt.attempted_at < now - THROTTLE_WINDOW)
        )
        db.session.commit()
        raise ValidationError({"login": BAD_CREDENTIALS})
    assert user is not None  # noqa: S101 - verify_password fails without a hash
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key == keys[0]))
    db.session.commit()
    return user


def start_login(user: User, *, user_agent: str = "") -> str:
    """Record a new signed-in browser and return its secret token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # Expired records would otherwise pile up; nothing else removes them.
    db.session.execute(
        sa.delete(LoginSession).where(
            LoginSession.user_id == user.id, LoginSession.expires_at <= now
        )
    )
    db.session.add(
        LoginSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + LOGIN_LIFETIME,
            user_agent=(user_agent or "")[:200],
        )
    )
    user.last_seen_at = now
    db.session.commit()
    user.login_token = token
    return token


def load_login(token: str) -> User | None:
    """Return the user of a live login token, or None."""
    if not token or len(token) > 100:
        return None
    token_hash = _digest(token)
    prefetched = g.pop("daybook_prefetched_login", None) if has_request_context() else None
    if prefetched is not None and prefetched[0] == token_hash:
        row = prefetched[1]
    else:
        with read_apart():
            row = db.session.execute(_LOGIN_BY_TOKEN, {"token_hash": token_hash}).first()
    if row is None or row[-1] <= utcnow():
        return None
    user = _as_session_user(row)
    user.login_token = token
    return user


def _as_session_user(row: tuple) -> User:
    """Return the User of LOGIN_COLUMNS values, in the session as if the ORM had loaded it.

    Filled in as the ORM's loader fills what it reads (the values straight into the instance's
    dict, not through the attribute events a constructor fires, at half the cost) and attached
    as unchanged (make_transient_to_detached), so that changing it and committing writes only
    what changed, as for a loaded user.
    """
    values = dict(zip(_USER_KEYS, row, strict=False))
    present = db.session.identity_map.get(identity_key(User, values["id"]))
    if present is not None:
        return present
    user = _new_user()
    user.__dict__.update(values)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def end_login(token: str | None) -> None:
    """End one login so neither its session nor its remember-me cookie works again."""
    if token:
        db.session.execute(sa.delete(LoginSession).where(LoginSession.token_hash == _digest(token)))
        db.session.commit()


def create_invite(admin: User) -> str:
    """Make a one-time registration token.

    Raises: NotFound when the user is not an admin (the page does not exist for them).
    """
    if not admin.is_admin:
        raise NotFound("Only admins can invite.")
    token = secrets.token_urlsafe(24)
    now = utcnow()
    db.session.add(
        Invite(
            token_hash=_digest(token),
            created_by_id=admin.id,
            created_at=now,
            expires_at=now + INVITE_LIFETIME,
        )
    )
    db.session.commit()
    return token


def find_invite(token: str) -> Invite | None:
    """Return the unused, unexpired invite for a token, or None."""
    if not token or len(token) > 100:
        return None
    invite = db.session.scalar(sa.select(Invite).where(Invite.token_hash == _digest(token)))
    if invite is None or invite.used_at is not None or invite.expires_at <= utcnow():
        return None
    return invite


def register_with_invite(token: str, **fields: str) -> User:
    """Create an account with an invite, which is spent in the same transaction.

    Raises: NotFound for a bad or spent invite; ValidationError for bad fields.
    """
    invite = find_invite(token)
    if invite is None:
        raise NotFound("This invite link is not valid.")
    # Claim the invite with a conditional update so two people cannot both spend it.
    claimed = db.session.execute(
        sa.update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise NotFound("This invite link is not valid.")
    try:
        user = users.new_user(**fields)
    except ValidationError:
        db.session.rollback()
        raise
    users.commit_new_user()
    return user
