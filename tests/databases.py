"""PostgreSQL for the test suite: a database per xdist worker, created fresh and emptied per test.

The suite runs against PostgreSQL when DAYBOOK_TEST_DATABASE_URL names a server and a database
(postgresql+psycopg://postgres@127.0.0.1:5432/daybook_test); each worker then uses
`<database>_<worker id>`. Without it, every test gets a copy of a migrated SQLite file.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import URL, make_url

TEST_DATABASE_URL = os.environ.get("DAYBOOK_TEST_DATABASE_URL", "").strip() or None
ON_POSTGRES = TEST_DATABASE_URL is not None
POSTGRES_BACKUPS = "PostgreSQL backups (pg_dump) come with production mode"


def only_on_sqlite(reason: str) -> pytest.MarkDecorator:
    """Skip a test that is about SQLite itself (its file, its pragmas) on PostgreSQL."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


def only_on_postgres(reason: str) -> pytest.MarkDecorator:
    """Skip a test that is about PostgreSQL itself (its driver, its round trips) on SQLite."""
    return pytest.mark.skipif(not ON_POSTGRES, reason=f"PostgreSQL only: {reason}")


def worker_url(base: str, worker_id: str, suffix: str = "") -> str:
    """Return the URL of this worker's own database next to `base`."""
    url = make_url(base)
    return url.set(database=f"{url.database}_{worker_id}{suffix}").render_as_string(
        hide_password=False
    )


def _conninfo(url: str | URL, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _connect(url: str | URL, database: str | None = None):
    import psycopg

    return psycopg.connect(_conninfo(url, database), autocommit=True, connect_timeout=5)


def unreachable(url: str) -> str | None:
    """Return why the server of `url` cannot be used, or None when it answers."""
    try:
        with _connect(url, "postgres"):
            return None
    except Exception as exc:  # psycopg.Error, or no psycopg at all
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def create(url: str) -> None:
    """Create the database of `url`, dropping any left from an earlier run."""
    from psycopg import sql

    name = sql.Identifier(make_url(url).database)
    with _connect(url, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop(url: str) -> None:
    """Drop the database of `url`, closing any connection still open to it."""
    from psycopg import sql

    name = sql.Identifier(make_url(url).database)
    with _connect(url, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


class Emptier:
    """Empties every table but alembic_version, over one connection kept for the session."""

    def __init__(self, url: str):
        from psycopg import sql

        self.conn = _connect(url)
        # A lock left by a test that did not close its session shows up here, not as a hang.
        self.conn.execute("SET lock_timeout = '20s'")
        tables = self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'alembic_version' ORDER BY tablename"
        ).fetchall()
        names = sql.SQL(", ").join(sql.Identifier(t) for (t,) in tables)
        self.statement = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names)

    def __call__(self) -> None:
        self.conn.execute(self.statement)

    def close(self) -> None:
        self.conn.close()


# The search index's table and the column with the entry's id, on the database under test.
SEARCH_TABLE, SEARCH_ID = ("entry_search", "entry_id") if ON_POSTGRES else ("entry_fts", "rowid")


if __name__ == "__main__":
    # `python -m tests.databases URL`: exit 0 when the server answers, else say why and exit 1.
    import sys

    reason = unreachable(sys.argv[1])
    if reason:
        print(f"PostgreSQL is not reachable: {reason}", file=sys.stderr)
    sys.exit(1 if reason else 0)
