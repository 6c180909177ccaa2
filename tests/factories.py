"""Small factories for users and entries, fast enough to call in every test, and a recorder of
the SQL a request sends."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache

from sqlalchemy import event

from daybook.extensions import db
from daybook.models import Entry, User
from daybook.services import entries, passwords

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@cache
def _password_hash() -> str:
    # argon2id is deliberately slow; hash the shared test password once per process.
    return passwords.hash_password(PASSWORD)


def make_user(
    username: str | None = None, *, email: str | None = None, is_admin: bool = False
) -> User:
    """Insert a user whose password is PASSWORD."""
    n = next(_counter)
    username = username or f"user{n}"
    user = User(
        username=username,
        email=email or f"{username}@example.com",
        password_hash=_password_hash(),
        is_admin=is_admin,
        timezone="UTC",
        preferences={},
    )
    db.session.add(user)
    db.session.commit()
    return user


def make_entry(
    user: User,
    title: str = "An entry",
    body: str = "Some *text*.",
    tags: str | list[str] = "",
    occurred_at: datetime | None = None,
) -> Entry:
    """Write an entry through the service, as the web pages do."""
    return entries.create_entry(user, title=title, body=body, tags=tags, occurred_at=occurred_at)


def csrf_token_from(html: str) -> str:
    """Return the CSRF token a page carries."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


def statements_during(app, action: Callable[[], object]) -> list[str]:
    """Return the SQL statements `action` sends, each on one line."""
    seen: list[str] = []

    def note(conn, cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen
