"""The schema: migrations bring an empty database to head, matching the models exactly."""

import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning

from daybook.database import include_object
from daybook.extensions import db
from daybook.models import Base
from tests import databases
from tests.databases import only_on_postgres, only_on_sqlite
from tests.factories import make_entry, make_user


@pytest.fixture
def empty_app(make_app, data_dir, postgres_url):
    """An app on an empty database: no file yet on SQLite, a new database on PostgreSQL."""
    if postgres_url is None:
        (data_dir / "daybook.sqlite3").unlink()
        yield make_app()
        return
    url = make_url(postgres_url)
    empty = url.set(database=f"{url.database}_empty").render_as_string(hide_password=False)
    databases.create(empty)
    app = make_app(DATABASE_URL=empty)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    databases.drop(empty)


def test_upgrade_empty_database_to_head_matches_models(empty_app):
    with empty_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            with warnings.catch_warnings():
                # SQLite cannot reflect expression indexes (lower(username)); alembic warns and
                # skips comparing them, which is all it can do.
                warnings.filterwarnings(
                    "ignore", message="autogenerate skipping", category=UserWarning
                )
                warnings.filterwarnings(
                    "ignore", message="Skipped unsupported reflection", category=SAWarning
                )
                diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _schema_names(connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
    else:
        sql = (
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema()"
        )
    return set(connection.scalars(sa.text(sql)))


def test_upgrade_is_idempotent_and_creates_search_index(app):
    upgrade()  # already at head: nothing to do, no error
    with db.engine.connect() as connection:
        names = _schema_names(connection)
    if db.engine.dialect.name == "sqlite":
        search = {"entry_fts"}
    else:
        search = {"entry_search", "ix_entry_search_document"}
    assert {"user", "entry", "tag", "entry_tag", "uq_user_username_lower", *search} <= names


@only_on_sqlite("the pragmas of SQLite connections")
def test_sqlite_connections_are_durable(app):
    with db.engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }


@only_on_postgres("entry_search's owner column (migration 0008)")
def test_search_rows_of_existing_entries_get_their_owner(app):
    first = make_user(username="first")
    second = make_user(username="second")
    owners = {make_entry(user, title="An entry").id: user.id for user in (first, second)}
    db.session.commit()
    db.session.remove()
    downgrade(revision="0007")  # the rows lose their owner column, then 0008 fills it in
    upgrade()
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT entry_id, user_id FROM entry_search")).all()
        nullable = connection.scalar(
            sa.text(
                "SELECT is_nullable FROM information_schema.columns "
                "WHERE table_name = 'entry_search' AND column_name = 'user_id'"
            )
        )
    assert dict(rows) == owners
    assert nullable == "NO"
