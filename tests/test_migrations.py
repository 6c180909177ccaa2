"""The schema: migrations bring an empty database to head, matching the models exactly."""

import sqlite3
import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy.exc import SAWarning

from daybook.database import include_object
from daybook.extensions import db
from daybook.models import Base


def test_upgrade_empty_database_to_head_matches_models(make_app, data_dir):
    (data_dir / "daybook.sqlite3").unlink()
    app = make_app()
    with app.app_context():
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


def test_upgrade_is_idempotent_and_creates_search_index(make_app, data_dir):
    app = make_app()
    with app.app_context():
        upgrade()  # already at head: nothing to do, no error
    names = {
        r[0]
        for r in sqlite3.connect(data_dir / "daybook.sqlite3").execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
        )
    }
    assert {"user", "entry", "tag", "entry_tag", "entry_fts", "uq_user_username_lower"} <= names


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
