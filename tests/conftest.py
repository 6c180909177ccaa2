"""Fixtures: an app on a temporary data directory, clients (anonymous, logged in), two users.

With DAYBOOK_TEST_DATABASE_URL set, the app's database is PostgreSQL (see tests/databases.py).
"""

from __future__ import annotations

import contextvars
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from daybook import create_app
from daybook.database import write_intent
from daybook.extensions import db
from daybook.services import passwords
from tests import databases
from tests.databases import TEST_DATABASE_URL
from tests.factories import PASSWORD, csrf_token_from, make_user

REQUIRE_SERVICES = os.environ.get("DAYBOOK_REQUIRE_SERVICES") == "1"


class DaybookClient(FlaskClient):
    """A test client that can post forms with the CSRF token its session was given.

    Each request runs in a fresh context, as under a real server: the test's own app context
    (and its `g` and database session) is not shared with the request's. Afterwards the test's
    database session is rolled back so that it reads what the request wrote.
    """

    csrf: str | None = None

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.rollback()
        return response

    def fetch_csrf(self, path: str = "/login") -> str:
        response = self.get(path)
        self.csrf = csrf_token_from(response.get_data(as_text=True))
        return self.csrf

    def form(self, path: str, data: dict | None = None, **kwargs):
        """POST a form with this session's CSRF token added."""
        if self.csrf is None:
            self.fetch_csrf()
        return self.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


# Names that show a test module picks its database itself rather than through the fixtures.
_CHOOSES_ITS_DATABASE = ("TEST_DATABASE_URL", "ON_POSTGRES", "databases")


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, run only the tests that can reach the database under test.

    A test that neither depends on `postgres_url` (every app, client and user fixture does) nor
    lives in a module that picks its database itself runs the same code on both runs: the
    Markdown sanitiser, settings, the browser journeys (SQLite only). It ran in the SQLite run.
    """
    if TEST_DATABASE_URL is None:
        return
    kept, left = [], []
    for item in items:
        module = getattr(item, "module", None)
        chooses = module is not None and any(n in vars(module) for n in _CHOOSES_ITS_DATABASE)
        (kept if chooses or "postgres_url" in item.fixturenames else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_report_header(config):
    if TEST_DATABASE_URL is not None:
        return (
            "PostgreSQL run: tests that never reach the database ran on SQLite and are deselected"
        )
    return None


_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CHEAP_DUMMY = _CHEAP_HASHER.hash("not-a-real-password")


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    # argon2id at full cost spends ~0.1 s a login; the rules under test do not depend on it.
    monkeypatch.setattr(passwords, "_hasher", _CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", _CHEAP_DUMMY)


@pytest.fixture(autouse=True)
def _reset_write_intent():
    # CLI groups mark their context as writing; do not let that leak into later tests.
    yield
    write_intent.set(False)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for key in list(os.environ):
        if key.startswith("DAYBOOK_") and key != "DAYBOOK_REQUIRE_SERVICES":
            monkeypatch.delenv(key)


def _migrate(data_dir: Path, **config) -> None:
    app = create_app(
        {"DATA_DIR": str(data_dir), "SECRET_KEY": "test-secret-key-0123456789", **config}
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_url(worker_id) -> Iterator[str | None]:
    """This worker's PostgreSQL database, created fresh; None when the suite runs on SQLite.

    Skips (or fails, with DAYBOOK_REQUIRE_SERVICES=1) every test that needs it when the server
    does not answer.
    """
    if TEST_DATABASE_URL is None:
        yield None
        return
    url = databases.worker_url(TEST_DATABASE_URL, worker_id)
    problem = databases.unreachable(url)
    if problem:
        where = make_url(url).render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} is not reachable: {problem}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (DAYBOOK_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(f"{message}; set DAYBOOK_REQUIRE_SERVICES=1 to fail instead")
    databases.create(url)
    yield url
    databases.drop(url)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory, postgres_url) -> Iterator[Path | databases.Emptier]:
    """Migrate an empty database to head once.

    SQLite: each test gets a copy of the file. PostgreSQL: each test starts from empty tables.
    """
    data_dir = tmp_path_factory.mktemp("template")
    if postgres_url is None:
        _migrate(data_dir)
        yield data_dir / "daybook.sqlite3"
        return
    _migrate(data_dir, DATABASE_URL=postgres_url)
    emptier = databases.Emptier(postgres_url)
    yield emptier
    emptier.close()


@pytest.fixture
def data_dir(tmp_path, migrated_db) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    if isinstance(migrated_db, databases.Emptier):
        migrated_db()
    else:
        shutil.copy(migrated_db, directory / "daybook.sqlite3")
    return directory


@pytest.fixture
def make_app(data_dir, postgres_url):
    """Build an app on the test's data directory (and database) with extra settings."""
    apps = []

    def build(**config):
        settings = {
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "test-secret-key-0123456789",
            "TESTING": True,
            **({"DATABASE_URL": postgres_url} if postgres_url else {}),
            **config,
        }
        app = create_app(settings)
        app.test_client_class = DaybookClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app) -> DaybookClient:
    return app.test_client()


@pytest.fixture
def user(app):
    return make_user("alice", is_admin=True)


@pytest.fixture
def other_user(app):
    return make_user("bob")


def login(client: DaybookClient, username: str, password: str = PASSWORD, **extra):
    client.fetch_csrf("/login")
    response = client.form("/login", {"login": username, "password": password, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client.fetch_csrf("/settings")
    return response


@pytest.fixture
def auth_client(app, user) -> DaybookClient:
    """A client logged in as `user`."""
    client = app.test_client()
    login(client, user.username)
    return client


@pytest.fixture
def other_client(app, other_user) -> DaybookClient:
    """A client logged in as `other_user`."""
    client = app.test_client()
    login(client, other_user.username)
    return client
