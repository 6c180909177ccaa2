"""Server-side sessions through Flask-Session, stored in Daybook's own table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask, g, request, session
from flask_session.base import ServerSideSessionInterface
from flask_session.redis import RedisSessionInterface
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from itsdangerous import want_bytes
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from structlog import get_logger
from werkzeug.exceptions import ServiceUnavailable

from daybook.bearer import sent_bearer
from daybook.database import mark_write_intent, read_apart
from daybook.extensions import db
from daybook.models import LoginSession, User
from daybook.models.web_session import WebSession
from daybook.services import auth

# Read on every request that carries a cookie: built once, on the table's columns (without
# mapped attributes the statement skips the ORM's compile and result stages). The session's
# login and user come with it (services.auth.prefetch_login): one statement, not two.
_sessions = WebSession.__table__
_SESSION_BY_ID = (
    sa.select(_sessions.c.data, _sessions.c.expiry, _sessions.c.login_hash, *auth.LOGIN_COLUMNS)
    .select_from(
        _sessions.outerjoin(
            LoginSession.__table__, LoginSession.token_hash == _sessions.c.login_hash
        ).outerjoin(User.__table__, User.id == LoginSession.user_id)
    )
    .where(_sessions.c.session_id == sa.bindparam("session_id"))
)
_LOGIN_AT = 3  # where the login's columns start in a _SESSION_BY_ID row
# Flask-Login keeps the signed-in login's token in the session under this key.
LOGIN_KEY = "_user_id"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class DatabaseSessionInterface(SqlAlchemySessionInterface):
    """Flask-Session's SQLAlchemy backend on a model declared once and made by the migrations.

    The library defines a new model class (a new table on our metadata) for every app it is
    given and reads it through the legacy `Model.query`; this keeps its cookie handling,
    regenerate() and cleanup, and stores rows with SQLAlchemy 2 statements.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.client = db
        self.sql_session_model = WebSession
        config = app.config
        ServerSideSessionInterface.__init__(
            self,
            app,
            "session:",
            False,
            config["SESSION_PERMANENT"],
            32,
            "msgpack",
            config["SESSION_CLEANUP_N_REQUESTS"],
        )

    def open_session(self, app: Flask, request):
        # The session is read before any before_request hook has run: mark the request here,
        # or its first transaction would begin the way the thread's previous request did.
        mark_write_intent()
        auth.prefetch_login(None, None)  # nothing left from an earlier request in this context
        try:
            opened = super().open_session(app, request)
        except SQLAlchemyError as exc:
            # A locked or unreadable database: say "busy" (see refuse_without_store) rather
            # than fail before any page, even the error page, can be drawn.
            db.session.rollback()
            return _unavailable(self, exc)
        if g.pop("daybook_session_without_login_hash", False):
            opened.modified = True  # written before migration 0006: save it once with its hash
        return opened

    def save_session(self, app: Flask, session, response) -> None:
        if not getattr(session, "unavailable", False):
            super().save_session(app, session, response)

    def _delete_expired_sessions(self) -> None:
        db.session.commit()  # end the read transaction the session was read in, if any
        db.session.execute(sa.delete(WebSession).where(WebSession.expiry <= _now()))
        db.session.commit()

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        with read_apart():
            row = db.session.execute(_SESSION_BY_ID, {"session_id": store_id}).first()
        if row is None or row.expiry is None or row.expiry <= _now() or row.data is None:
            return None
        data = self.serializer.decode(want_bytes(row.data))
        if row.login_hash is not None:
            login = row[_LOGIN_AT:] if row.expires_at is not None else None
            auth.prefetch_login(row.login_hash, login)
        elif isinstance(data, dict) and data.get(LOGIN_KEY):
            g.daybook_session_without_login_hash = True
        return data

    def _delete_session(self, store_id: str) -> None:
        db.session.execute(sa.delete(WebSession).where(WebSession.session_id == store_id))
        db.session.commit()

    def _upsert_session(self, session_lifetime: timedelta, session, store_id: str) -> None:
        data = self.serializer.encode(session)
        expiry = _now() + session_lifetime
        token = session.get(LOGIN_KEY)
        values = {
            "data": data,
            "expiry": expiry,
            "login_hash": auth.login_digest(token) if isinstance(token, str) else None,
        }
        db.session.rollback()  # never commit half of a view's work along with the session
        updated = db.session.execute(
            sa.update(WebSession).where(WebSession.session_id == store_id).values(**values)
        ).rowcount
        if not updated:
            db.session.add(WebSession(session_id=store_id, **values))
        db.session.commit()


log = get_logger("daybook.sessions")
# Endpoints that serve without a session: health checks, metrics and static files.
SESSIONLESS_BLUEPRINTS = ("health", "metrics")


class ResilientRedisSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis backend that marks the session unavailable instead of failing.

    While Redis is away, pages that need a session answer 503 (see `refuse_without_store`);
    everything else (health checks, the API with bearer tokens) keeps working, and the
    session is neither overwritten nor its cookie dropped, so it is still there afterwards.
    """

    def open_session(self, app: Flask, request):
        try:
            opened = super().open_session(app, request)
            if not request.cookies.get(app.config["SESSION_COOKIE_NAME"]) and (
                "Authorization" not in request.headers
            ):
                # A new visitor's session is only written after the page; learn now whether
                # that can work, rather than hand out a form that cannot be posted.
                self.client.ping()
            return opened
        except RedisError as exc:
            return _unavailable(self, exc)

    def save_session(self, app: Flask, session, response) -> None:
        if getattr(session, "unavailable", False):
            return
        try:
            super().save_session(app, session, response)
        except RedisError as exc:
            log.warning("session_store_unavailable", error=type(exc).__name__)


def _unavailable(interface: ServerSideSessionInterface, exc: Exception):
    """Return an empty session marked as not backed by the store, which is never saved."""
    log.warning("session_store_unavailable", error=type(exc).__name__)
    placeholder = interface.session_class(sid=interface._generate_sid(interface.sid_length))
    placeholder.unavailable = True
    return placeholder


def refuse_without_store() -> None:
    """Answer 503 to a request that needs a session while the session store is away."""
    if not getattr(session, "unavailable", False):
        return
    if request.blueprint in SESSIONLESS_BLUEPRINTS or request.endpoint in (None, "static"):
        return
    if sent_bearer() is not None:
        return
    raise ServiceUnavailable(retry_after=5)


def regenerate_session(app: Flask, session) -> None:
    """Give the current session a new id, keeping its contents (against session fixation)."""
    app.session_interface.regenerate(session)
    session.modified = True


def init_sessions(app: Flask) -> None:
    """Store sessions server-side: in Redis when configured, else in the database."""
    redis = app.extensions.get("redis")
    if redis is None:
        app.session_interface = DatabaseSessionInterface(app)
    else:
        app.session_interface = ResilientRedisSessionInterface(
            app,
            client=redis,
            key_prefix="daybook:session:",
            permanent=app.config["SESSION_PERMANENT"],
        )
    app.before_request(refuse_without_store)
