"""Personal access tokens over the API: create (secret shown once), list, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daybook.models import utcnow
from daybook.services import tokens
from tests.api.conftest import API, assert_problem, assert_time, make_token

TOKEN_KEYS = {"id", "name", "scopes", "created_at", "last_used_at", "expires_at", "token"}


def test_create_answers_201_with_the_secret_once(api, user):
    response = api.post("/tokens", json={"name": "phone", "scopes": ["read"]})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Location"] == f"{API}/tokens"
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["name"] == "phone"
    assert body["scopes"] == ["read"]
    assert body["last_used_at"] is None
    assert body["expires_at"] is None
    assert_time(body["created_at"])
    assert body["token"].startswith("dbk_")
    listed = api.get("/tokens").get_json()["tokens"]
    assert [t["id"] for t in listed if t["name"] == "phone"] == [body["id"]]
    assert all(t["token"] is None for t in listed)
    assert api.with_token(body["token"]).get("/me").status_code == 200


def test_create_with_expiry_and_write_scope(api):
    expires = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    response = api.post(
        "/tokens",
        json={"name": "ci", "scopes": ["read", "write"], "expires_at": expires.isoformat()},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["scopes"] == ["read", "write"]
    assert assert_time(body["expires_at"]) == expires


def test_expiry_with_another_offset_is_kept_as_the_same_moment(api):
    response = api.post(
        "/tokens",
        json={"name": "ci", "scopes": ["read"], "expires_at": "2999-01-01T12:00:00+02:00"},
    )
    assert response.status_code == 201
    moment = assert_time(response.get_json()["expires_at"])
    assert moment == datetime(2999, 1, 1, 10, tzinfo=UTC)


def test_write_scope_order_does_not_matter(api):
    body = api.post("/tokens", json={"name": "x", "scopes": ["write", "read"]}).get_json()
    assert body["scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "scopes": ["write"]}, "scopes"),
        ({"name": "x", "scopes": ["read", "read"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"]}, "scopes.0"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "   ", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "owner": 2}, "owner"),
    ],
)
def test_create_refuses_bad_fields(api, payload, field):
    body = assert_problem(api.post("/tokens", json=payload), 422)
    assert field in body["errors"], body


def test_read_token_cannot_create_or_revoke_tokens(reader, api):
    assert_problem(reader.post("/tokens", json={"name": "x", "scopes": ["read"]}), 403)
    token_id = api.get("/tokens").get_json()["tokens"][0]["id"]
    assert_problem(reader.delete(f"/tokens/{token_id}"), 403)
    assert reader.get("/tokens").status_code == 200


def test_list_is_newest_first_without_secrets_or_revoked(api, user):
    first = make_token(user, name="first")
    make_token(user, name="second")
    ids = {t["name"]: t["id"] for t in api.get("/tokens").get_json()["tokens"]}
    api.delete(f"/tokens/{ids['first']}")
    listed = api.get("/tokens").get_json()["tokens"]
    assert [t["name"] for t in listed] == ["second", "writer"]
    for item in listed:
        assert set(item) == TOKEN_KEYS
        assert item["token"] is None
    assert api.with_token(first).get("/me").status_code == 401


def test_revoke_answers_204_then_404(api, user):
    secret = make_token(user, name="doomed")
    token_id = next(
        t["id"] for t in api.get("/tokens").get_json()["tokens"] if t["name"] == "doomed"
    )
    response = api.delete(f"/tokens/{token_id}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert api.with_token(secret).get("/me").status_code == 401
    assert_problem(api.delete(f"/tokens/{token_id}"), 404)


def test_a_token_can_revoke_itself(api):
    own = api.get("/tokens").get_json()["tokens"][0]["id"]
    assert api.delete(f"/tokens/{own}").status_code == 204
    assert api.get("/me").status_code == 401


def test_other_users_tokens_are_404_and_invisible(api, other_api, other_user):
    theirs = other_api.get("/tokens").get_json()["tokens"][0]["id"]
    assert_problem(api.delete(f"/tokens/{theirs}"), 404, detail="No such token.")
    assert theirs not in [t["id"] for t in api.get("/tokens").get_json()["tokens"]]
    assert other_api.get("/me").status_code == 200


@pytest.mark.parametrize("token_id", ["0", "-1", "abc", str(2**64)])
def test_odd_token_ids(api, token_id):
    response = api.delete(f"/tokens/{token_id}")
    assert response.status_code in (404, 422)
    assert response.mimetype == "application/problem+json"


def test_expired_tokens_stay_listed_with_their_expiry(api, user):
    soon = utcnow() + timedelta(seconds=30)
    tokens.create_token(user, name="brief", scopes=["read"], expires_at=soon)
    listed = {t["name"]: t for t in api.get("/tokens").get_json()["tokens"]}
    assert assert_time(listed["brief"]["expires_at"]) == soon


def test_tokens_per_user_are_capped(api, user, monkeypatch):
    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_USER", 2)
    assert api.post("/tokens", json={"name": "second", "scopes": ["read"]}).status_code == 201
    body = assert_problem(api.post("/tokens", json={"name": "third", "scopes": ["read"]}), 422)
    assert "revoke some" in body["errors"]["name"]
