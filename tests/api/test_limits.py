"""Rate limits: per token and per client address, shared by every route, with headers."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import Api, assert_problem, make_token
from tests.factories import PASSWORD


@pytest.fixture
def limited(make_app, user):
    """An app that allows three API requests a minute, and a token for it."""
    app = make_app(API_RATE_LIMIT="3/minute")
    return app, make_token(user)


def test_headers_count_down_then_429(limited):
    app, secret = limited
    api = Api(app.test_client(), secret)
    remaining = []
    for _ in range(3):
        response = api.get("/me")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
        assert int(response.headers["RateLimit-Reset"]) > 0
    assert remaining == [2, 1, 0]
    refused = api.get("/me")
    body = assert_problem(refused, 429)
    assert "3 per 1 minute" in body["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= int(time.time())


def test_the_limit_is_shared_by_every_route(limited):
    app, secret = limited
    api = Api(app.test_client(), secret)
    assert api.get("/me").status_code == 200
    assert api.get("/tags").status_code == 200
    assert api.post("/entries", json={"title": "x"}).status_code == 201
    assert_problem(api.get("/entries"), 429)
    assert_problem(api.post("/entries", json={"title": "y"}), 429)


def test_errors_count_too(limited):
    app, secret = limited
    api = Api(app.test_client(), secret)
    for _ in range(3):
        assert api.get("/entries/999").status_code == 404
    assert_problem(api.get("/entries/999"), 429)


def test_limits_are_per_token(limited, user):
    app, secret = limited
    first = Api(app.test_client(), secret)
    for _ in range(3):
        first.get("/me")
    assert first.get("/me").status_code == 429
    second = Api(app.test_client(), make_token(user, name="second"))
    fresh = second.get("/me", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert fresh.status_code == 200


def test_limits_are_per_address_whatever_the_token(limited):
    app, _secret = limited
    api = Api(app.test_client())
    # Made-up tokens do not buy fresh allowances: the address is counted too.
    for n in range(3):
        assert api.with_token(f"dbk_guess{n}").get("/me").status_code == 401
    assert_problem(api.with_token("dbk_guess-again").get("/me"), 429)
    elsewhere = api.with_token("dbk_guess-4").get("/me", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 401


def test_login_is_limited_per_address(limited):
    app, _secret = limited
    anon = Api(app.test_client())
    for _ in range(3):
        anon.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    refused = anon.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert_problem(refused, 429)
    assert "Retry-After" in refused.headers


def test_limits_do_not_leak_into_the_web_pages(limited, user):
    app, secret = limited
    api = Api(app.test_client(), secret)
    for _ in range(4):
        api.get("/me")
    page = app.test_client().get("/login")
    assert page.status_code == 200
    assert "RateLimit-Limit" not in page.headers


def test_several_apps_in_one_process_count_once(make_app, user):
    # Each create_app registers the API; its limit must not be counted once per app.
    make_app()
    make_app()
    app = make_app(API_RATE_LIMIT="5/minute")
    api = Api(app.test_client(), make_token(user))
    assert api.get("/me").headers["RateLimit-Remaining"] == "4"


def test_default_limit_is_generous(api):
    response = api.get("/me")
    assert response.headers["RateLimit-Limit"] == "300"
