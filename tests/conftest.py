"""Fixtures: an app on a temporary data directory, clients (anonymous, logged in), two users."""

from __future__ import annotations

import contextvars
import os
import shutil
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import has_app_context
from flask.testing import FlaskClient

from daybook import create_app
from daybook.database import write_intent
from daybook.extensions import db
from daybook.services import passwords
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


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """Migrate an empty database to head once; each test gets a copy of the file."""
    data_dir = tmp_path_factory.mktemp("template")
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "test-secret-key-0123456789"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return data_dir / "daybook.sqlite3"


@pytest.fixture
def data_dir(tmp_path, migrated_db) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    shutil.copy(migrated_db, directory / "daybook.sqlite3")
    return directory


@pytest.fixture
def make_app(data_dir):
    """Build an app on the test's data directory with extra settings."""
    apps = []

    def build(**config):
        settings = {
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "test-secret-key-0123456789",
            "TESTING": True,
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
