"""API fixtures: clients that send a bearer token, and helpers for exact JSON shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from daybook.services import tokens
from tests.factories import PASSWORD

API = "/api/v1"
PROBLEM = "application/problem+json"
# RFC 3339 date-time with an offset: Z or ±HH:MM, never a naive time.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ENTRY_KEYS = {
    "id",
    "title",
    "body",
    "html",
    "tags",
    "occurred_at",
    "created_at",
    "updated_at",
    "deleted_at",
    "version",
    "word_count",
    "links",
}


class Api:
    """A test client that talks to /api/v1 with one bearer token (or none)."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def with_token(self, token: str | None) -> Api:
        return Api(self.client, token)

    def open(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs):
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        sent.update(headers or {})
        url = path if path.startswith("/api/") else API + path
        return self.client.open(url, method=method, headers=sent, **kwargs)

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.open("DELETE", path, **kwargs)


def make_token(user, scopes=("read", "write"), **kwargs) -> str:
    """Create a personal access token and return its secret."""
    _token, secret = tokens.create_token(
        user, name=kwargs.pop("name", "test"), scopes=list(scopes), **kwargs
    )
    return secret


def assert_problem(response, status: int, **expected: Any) -> dict:
    """Check an RFC 9457 answer: status, media type, the four members; return the body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == f"https://daybook.invalid/problems/{status}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    for key, value in expected.items():
        assert body[key] == value, (key, body)
    return body


def assert_time(value: str) -> datetime:
    """Check an RFC 3339 time with an offset; return it parsed."""
    assert RFC3339.fullmatch(value), value
    return datetime.fromisoformat(value)


def assert_entry(entry: dict, /, **expected: Any) -> dict:
    """Check the exact shape of an entry; compare the fields given."""
    body = entry
    assert set(body) == ENTRY_KEYS
    assert body["links"] == {
        "self": f"{API}/entries/{body['id']}",
        "html": f"/entries/{body['id']}",
    }
    for key in ("occurred_at", "created_at", "updated_at"):
        assert_time(body[key])
    if body["deleted_at"] is not None:
        assert_time(body["deleted_at"])
    assert isinstance(body["version"], int) and body["version"] >= 1
    assert isinstance(body["word_count"], int)
    assert isinstance(body["tags"], list)
    for key, value in expected.items():
        assert body[key] == value, (key, body[key])
    return body


@pytest.fixture
def write_token(user) -> str:
    return make_token(user, ("read", "write"), name="writer")


@pytest.fixture
def read_token(user) -> str:
    return make_token(user, ("read",), name="reader")


@pytest.fixture
def anon(client) -> Api:
    """The API with no credentials."""
    return Api(client)


@pytest.fixture
def api(app, write_token) -> Api:
    """The API as `user` with a read-and-write personal token."""
    return Api(app.test_client(), write_token)


@pytest.fixture
def reader(app, read_token) -> Api:
    """The API as `user` with a read-only personal token."""
    return Api(app.test_client(), read_token)


@pytest.fixture
def other_api(app, other_user) -> Api:
    """The API as `other_user` with a read-and-write personal token."""
    return Api(app.test_client(), make_token(other_user, name="bob's"))


def password_login(api: Api, login: str, password: str = PASSWORD):
    return api.with_token(None).post("/auth/token", json={"username": login, "password": password})


@pytest.fixture
def pair(anon, user) -> dict:
    """An access and refresh token from a password login as `user`."""
    response = password_login(anon, user.username)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def create(api: Api, **fields: Any) -> dict:
    """Create an entry over the API and return its JSON."""
    response = api.post("/entries", json={"title": "An entry", **fields})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()
