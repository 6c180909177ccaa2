"""Production mode's Redis: sessions and rate limits live there, and an outage is survivable."""

from __future__ import annotations

import pytest

from daybook.services import tokens
from tests.conftest import login
from tests.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_app(make_app, redis_server):
    app = make_app(REDIS_URL=redis_server.url)
    with app.app_context():
        yield app


def _session_keys(app) -> list[bytes]:
    return list(app.extensions["redis"].scan_iter("daybook:session:*"))


def test_sessions_are_kept_in_redis_not_the_database(redis_app, user):
    from daybook.extensions import db
    from daybook.models.web_session import WebSession

    client = redis_app.test_client()
    login(client, user.username)
    assert _session_keys(redis_app), "no session key in Redis after logging in"
    assert db.session.scalar(db.select(db.func.count()).select_from(WebSession)) == 0
    assert client.get("/entries").status_code == 200


def test_readyz_reports_redis(redis_app):
    response = redis_app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == {"ok": True}


def test_rate_limits_are_counted_in_redis(make_app, redis_server, user):
    app = make_app(REDIS_URL=redis_server.url, API_RATE_LIMIT="3/minute")
    with app.app_context():
        token = tokens.create_token(user, name="limits", scopes=["read"])[1]
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [app.test_client().get("/api/v1/entries", headers=headers).status_code]
    # A second app (another process, in production) shares the same counters.
    other = make_app(REDIS_URL=redis_server.url, API_RATE_LIMIT="3/minute")
    statuses += [
        other.test_client().get("/api/v1/entries", headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200, 429]
    assert any(b"daybook" in key for key in app.extensions["redis"].scan_iter("*"))


def test_a_redis_outage_is_survived_and_nothing_is_lost(redis_app, redis_server, user):
    client = redis_app.test_client()
    login(client, user.username)
    created = client.form(
        "/entries/new", {"title": "Before the outage", "body": "kept", "tags": ""}
    )
    assert created.status_code == 302
    token = tokens.create_token(user, name="outage", scopes=["read", "write"])[1]
    bearer = {"Authorization": f"Bearer {token}"}

    redis_server.stop()

    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["redis"]["ok"] is False
    assert ready.get_json()["checks"]["database"] == {"ok": True}
    # The API with a token needs no session and keeps serving, rate limits counted in memory.
    listed = client.get("/api/v1/entries", headers=bearer)
    assert listed.status_code == 200
    assert [e["title"] for e in listed.get_json()["entries"]] == ["Before the outage"]
    # Pages that need the session say so plainly, and leave the session cookie alone.
    page = client.get("/entries")
    assert page.status_code == 503
    assert "Try again in a moment" in page.get_data(as_text=True)
    assert "daybook_session" not in page.headers.get("Set-Cookie", "")
    assert redis_app.test_client().get("/login").status_code == 503

    redis_server.start()

    # The same login is still valid, and what was written before is all there.
    listing = client.get("/entries")
    assert listing.status_code == 200
    assert "Before the outage" in listing.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200
