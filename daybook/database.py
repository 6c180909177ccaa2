"""Engine settings applied to every database connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from daybook.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 10_000

# True while handling a request (or command) that writes. SQLite then opens its transactions
# with BEGIN IMMEDIATE: a deferred BEGIN lets a reader try to become a writer after another
# process committed, which fails at once with "database is locked" instead of waiting.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)
# Requests that only read: no write lock on SQLite, no transaction on PostgreSQL.
READ_METHODS = ("GET", "HEAD", "OPTIONS")
# A PostgreSQL connection is pinged before use when it lay in the pool longer than this. One
# that served a request a moment ago is not: SQLAlchemy's pre-ping cost a round trip on every
# request, both to Daybook and to PostgreSQL.
PING_AFTER_IDLE_S = 2.0


@contextmanager
def read_apart() -> Iterator[None]:
    """Run a block's reads in a transaction of their own when the request writes.

    Every request reads its session and its login before the view runs. In a request that
    writes, those reads would otherwise begin with BEGIN IMMEDIATE and hold SQLite's one write
    lock through all of it; read apart, the lock is taken when the view starts its work. The
    objects read stay loaded (not expired) for the view. A read-only request reads on in the
    same transaction, and so does every request on PostgreSQL, whose reads take no lock that
    writers wait for (a transaction apart would only cost it round trips).
    """
    if not write_intent.get() or db.session.get_bind().dialect.name != "sqlite":
        yield
        return
    write_intent.set(False)
    try:
        yield
        commit_keeping_loaded()
    finally:
        write_intent.set(True)


def commit_keeping_loaded() -> None:
    """Commit, leaving the objects in the session loaded as they were written or read.

    A plain commit expires them all, and the next attribute read (the new entry's id for the
    redirect, the user's id for the request log) costs another SELECT each. Use it where the
    request goes on with what it has just written or read itself.
    """
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


@contextmanager
def planned_each_time() -> Iterator[None]:
    """Send a block's statements unprepared on PostgreSQL, so that each is planned for its values.

    psycopg prepares a statement on its fifth run, and PostgreSQL may then settle on one generic
    plan for all values. For a search that plan cannot know how common the word is: one that
    suits a rare word took 27–61 ms for a common one that its own plan finds in 9.
    """
    connection = db.session.connection().connection.driver_connection
    threshold = getattr(connection, "prepare_threshold", None)
    if threshold is None:  # SQLite, or nothing prepared anyway
        yield
        return
    connection.prepare_threshold = None
    try:
        yield
    finally:
        connection.prepare_threshold = threshold


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN, not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # FULL: an acknowledged write survives a power cut, not just a crash of the process.
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def _without_nul(value):
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _bound_without_nul(params):
    # A mapping of named values, a tuple of positional ones, or a list of either (executemany).
    if isinstance(params, dict):
        return {key: _without_nul(value) for key, value in params.items()}
    if isinstance(params, tuple):
        return tuple(_without_nul(value) for value in params)
    if isinstance(params, list):
        return [_bound_without_nul(each) for each in params]
    return params


def _postgres_before_execute(conn, cursor, statement, parameters, context, executemany):
    # PostgreSQL text cannot hold U+0000, and psycopg refuses to send it: a NUL typed into a
    # form or a query would end in a 500. It is bound as U+FFFD, the character CommonMark shows
    # in its place, so a lookup finds nothing and a write keeps the rest of the text.
    return statement, _bound_without_nul(parameters)


def _postgres_checkin(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _postgres_checkout(dbapi_connection, record, _proxy) -> None:
    # A connection that lay idle may have been closed by a restart of the server, a proxy or a
    # firewall: ping it, and on failure the pool replaces it and checks out again. One used
    # within PING_AFTER_IDLE_S is trusted; if the server went away meanwhile, its first
    # statement fails (a 503 with Retry-After), and SQLAlchemy then replaces the whole pool.
    idle_since = record.info.pop("idle_since", None)
    try:
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_S:
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SELECT 1")
        # A GET or HEAD request reads (the odd write it makes is one statement that commits by
        # itself): without a transaction psycopg sends no BEGIN and the request no COMMIT, two
        # of the six round trips of an entry's page. Everything else gets a transaction.
        dbapi_connection.autocommit = has_request_context() and request.method in READ_METHODS
    except dbapi_connection.Error as exc:  # closed: the pool replaces it and checks out again
        raise DisconnectionError(str(exc)) from exc


def mark_write_intent() -> None:
    """Note whether the current request may write (see write_intent)."""
    write_intent.set(request.method not in READ_METHODS)


def register_database(app: Flask) -> None:
    """Bind the database; on SQLite set the pragmas and transaction mode on every connection.

    On PostgreSQL, strings are bound without NUL characters (see _postgres_before_execute), and
    connections are pinged only after lying idle (_postgres_checkout), not on every checkout as
    SQLAlchemy's pool_pre_ping would; a SQLite file cannot have gone away.
    """
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        dialect = engine.dialect.name
        if not getattr(engine, "_daybook_hooks", False):
            if dialect == "sqlite":
                event.listen(engine, "connect", _sqlite_connect)
                event.listen(engine, "begin", _sqlite_begin)
            elif dialect == "postgresql":
                event.listen(engine, "before_cursor_execute", _postgres_before_execute, retval=True)
                event.listen(engine, "checkin", _postgres_checkin)
                event.listen(engine, "checkout", _postgres_checkout)
            engine._daybook_hooks = True  # type: ignore[attr-defined]
    app.before_request(mark_write_intent)
    if dialect != "sqlite":
        # Runs before Flask-SQLAlchemy's teardown (an app-context one), which would roll back.
        # SQLite prepares nothing that a rollback forgets: its pages keep the cheaper rollback.
        app.teardown_request(_end_reading)


def _end_reading(exc: BaseException | None) -> None:
    """End a page's read transaction with COMMIT where Flask-SQLAlchemy would roll it back.

    On PostgreSQL a ROLLBACK makes psycopg forget (and deallocate) its prepared statements, so
    with every page ending in one, no statement was ever prepared: each was parsed and planned
    afresh. A page that read without error has nothing to undo; anything else still rolls back.
    """
    if exc is not None or request.method not in READ_METHODS or not db.session.registry.has():
        return
    session = db.session()
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()


# The search index: FTS5 (and its shadow tables) on SQLite, entry_search on PostgreSQL.
SEARCH_TABLES = ("entry_fts", "entry_search")


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ARG001
    """Hide the search index's tables from autogenerate: migrations create them by hand."""
    return not (type_ == "table" and name and name.startswith(SEARCH_TABLES))
