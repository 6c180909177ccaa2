"""Who may call the API: bearer tokens, password login, refresh rotation, logout, the session."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import ApiToken, RefreshToken, utcnow
from daybook.services import auth, tokens, users
from tests.api.conftest import Api, assert_problem, assert_time, make_token, password_login
from tests.conftest import login
from tests.factories import PASSWORD, make_user

BEARER_CHALLENGE = 'Bearer error="invalid_token"'


def assert_unauthorized(response, challenge: str = BEARER_CHALLENGE) -> dict:
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == challenge
    return body


# -- bearer tokens -------------------------------------------------------------------------------


def test_no_credentials_is_401_with_a_bearer_challenge(anon, user):
    response = anon.get("/me")
    body = assert_unauthorized(response, "Bearer")
    assert body == {
        "type": "https://daybook.invalid/problems/401",
        "title": "Authentication required",
        "status": 401,
        "detail": "Authenticate with a bearer token.",
    }


def test_me_with_a_personal_token(api, user):
    response = api.get("/me")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    created = body.pop("created_at")
    assert body == {
        "id": user.id,
        "username": "alice",
        "email": "alice@example.com",
        "timezone": "UTC",
        "is_admin": True,
    }
    assert assert_time(created) == user.created_at


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage",
        "Bearer dbk_not-a-real-token",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.invalid",
        "bearer dbk_unknown",
    ],
)
def test_garbage_bearer_is_401(anon, user, header):
    assert_unauthorized(anon.get("/me", headers={"Authorization": header}))


@pytest.mark.parametrize("header", ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer", "Bearer   "])
def test_other_schemes_are_401(anon, user, write_token, header):
    body = assert_unauthorized(anon.get("/me", headers={"Authorization": header}))
    assert "Bearer" in body["detail"]


def test_a_bearer_header_wins_over_the_session(auth_client, other_user):
    # A logged-in browser that sends someone's token acts as the token's owner.
    response = Api(auth_client, make_token(other_user)).get("/me")
    assert response.get_json()["username"] == "bob"


def test_expired_personal_token_is_401(anon, user):
    secret = make_token(user, expires_at=utcnow() + timedelta(days=1))
    assert anon.with_token(secret).get("/me").status_code == 200
    db.session.execute(sa.update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    body = assert_unauthorized(anon.with_token(secret).get("/me"))
    assert body["detail"] == "The token has expired."


def test_revoked_personal_token_is_401(api, user):
    token_id = api.get("/tokens").get_json()["tokens"][0]["id"]
    assert api.delete(f"/tokens/{token_id}").status_code == 204
    body = assert_unauthorized(api.get("/me"))
    assert body["detail"] == "The token is not valid or was revoked."


def test_personal_token_of_a_deleted_account_is_401(api, user):
    users.delete_user(user)
    assert_unauthorized(api.get("/me"))


def test_only_a_hash_of_the_token_is_stored(api, write_token):
    stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert write_token.startswith("dbk_")
    assert all(write_token not in value for value in stored)
    assert len(stored[0]) == 64


def test_last_used_is_recorded(api, user):
    assert api.get("/tokens").get_json()["tokens"][0]["last_used_at"] is not None


# -- password login ------------------------------------------------------------------------------


def assert_pair(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] != body["refresh_token"]
    return body


@pytest.mark.parametrize("login_name", ["alice", "alice@example.com", "ALICE", "Alice@Example.com"])
def test_password_login_by_username_or_email(anon, user, login_name):
    body = assert_pair(password_login(anon, login_name))
    me = anon.with_token(body["access_token"]).get("/me")
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice"


def test_access_token_is_a_15_minute_jwt(pair, user):
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(user.id)
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_access_token_can_write(anon, pair):
    response = anon.with_token(pair["access_token"]).post("/entries", json={"title": "From JWT"})
    assert response.status_code == 201


def test_expired_access_token_is_401(app, anon, user, pair):
    family = db.session.scalar(sa.select(RefreshToken.family))
    stale = tokens._access_token(user, family, utcnow() - timedelta(minutes=16), app.secret_key)
    body = assert_unauthorized(anon.with_token(stale).get("/me"))
    assert body["detail"] == "The access token has expired; refresh it."


def test_access_token_signed_with_another_key_is_401(anon, user, pair):
    family = db.session.scalar(sa.select(RefreshToken.family))
    forged = tokens._access_token(user, family, utcnow(), "some-other-secret-key-0123")
    assert_unauthorized(anon.with_token(forged).get("/me"))


def test_unsigned_access_token_is_401(anon, user, pair):
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, key=None, algorithm="none")
    assert_unauthorized(anon.with_token(forged).get("/me"))


def test_wrong_password_and_unknown_user_get_the_same_answer(anon, user):
    wrong = password_login(anon, "alice", "not the password")
    unknown = password_login(anon, "nobody", "not the password")
    for response in (wrong, unknown):
        assert_problem(response, 401, detail=auth.BAD_CREDENTIALS)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.get_json() == unknown.get_json()


def test_password_login_rejects_unknown_fields(anon, user):
    response = anon.post(
        "/auth/token", json={"username": "alice", "password": PASSWORD, "scope": "admin"}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == {"scope": "Extra inputs are not permitted"}


def test_password_login_needs_both_fields(anon, user):
    body = assert_problem(anon.post("/auth/token", json={}), 422)
    assert set(body["errors"]) == {"username", "password"}


def test_password_login_is_throttled_like_the_web_form(app, anon, user):
    web = app.test_client()
    web.fetch_csrf("/login")
    for _ in range(auth.THROTTLE_MAX_FAILURES):
        assert web.form("/login", {"login": "alice", "password": "wrong"}).status_code == 400
    # The right password, over the API, is refused too: the counter is the account's.
    response = password_login(anon, "alice@example.com")
    assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60 + 1


def test_web_login_is_throttled_after_api_failures(app, anon, user):
    for _ in range(auth.THROTTLE_MAX_FAILURES):
        assert password_login(anon, "alice", "wrong").status_code == 401
    assert_problem(password_login(anon, "alice"), 429)
    web = app.test_client()
    web.fetch_csrf("/login")
    response = web.form("/login", {"login": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Retry-After" in response.headers


# -- refresh rotation ----------------------------------------------------------------------------


def refresh(anon: Api, refresh_token: str):
    return anon.with_token(None).post("/auth/refresh", json={"refresh_token": refresh_token})


def test_refresh_rotates_the_pair(anon, pair):
    new = assert_pair(refresh(anon, pair["refresh_token"]))
    assert new["refresh_token"] != pair["refresh_token"]
    assert new["access_token"] != pair["access_token"]
    assert anon.with_token(new["access_token"]).get("/me").status_code == 200
    # The old access token lives on until it expires: the login was not ended.
    assert anon.with_token(pair["access_token"]).get("/me").status_code == 200
    # The new refresh token works once more.
    assert_pair(refresh(anon, new["refresh_token"]))


def test_reusing_a_spent_refresh_token_revokes_the_whole_login(anon, pair):
    new = assert_pair(refresh(anon, pair["refresh_token"]))
    reused = refresh(anon, pair["refresh_token"])
    body = assert_unauthorized(reused, "Bearer")
    assert "already used" in body["detail"]
    # Everything of that login stops working: the rotated refresh token and every access token.
    assert_unauthorized(refresh(anon, new["refresh_token"]), "Bearer")
    assert_unauthorized(anon.with_token(new["access_token"]).get("/me"))
    assert_unauthorized(anon.with_token(pair["access_token"]).get("/me"))


def test_reuse_revokes_only_that_login(anon, user, pair):
    other = assert_pair(password_login(anon, "alice"))
    refresh(anon, pair["refresh_token"])
    refresh(anon, pair["refresh_token"])
    assert anon.with_token(other["access_token"]).get("/me").status_code == 200
    assert_pair(refresh(anon, other["refresh_token"]))


@pytest.mark.parametrize("token", ["nonsense", "x" * 200])
def test_unknown_refresh_token_is_401(anon, user, token):
    assert_unauthorized(refresh(anon, token), "Bearer")


def test_a_personal_token_is_no_refresh_token(anon, pair, write_token):
    assert_unauthorized(refresh(anon, write_token), "Bearer")


def test_an_access_token_is_no_refresh_token(anon, pair):
    # Longer than any refresh token, so the schema refuses it before it is looked up.
    assert_problem(refresh(anon, pair["access_token"]), 422)


def test_expired_refresh_token_is_401(anon, pair):
    db.session.execute(sa.update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert_unauthorized(refresh(anon, pair["refresh_token"]), "Bearer")


def test_refresh_needs_no_bearer_but_rejects_unknown_fields(anon, pair):
    response = anon.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"], "extra": True}
    )
    assert assert_problem(response, 422)["errors"] == {"extra": "Extra inputs are not permitted"}


# -- logout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"json": {}}, {}])
def test_logout_ends_the_login_of_the_access_token(anon, pair, body):
    as_login = anon.with_token(pair["access_token"])
    response = as_login.post("/auth/logout", **body)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_unauthorized(as_login.get("/me"))
    assert_unauthorized(refresh(anon, pair["refresh_token"]), "Bearer")


def test_logout_with_a_refresh_token_ends_that_login(api, anon, pair):
    # A personal token may end one of the user's password logins by its refresh token.
    assert (
        api.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    )
    assert_unauthorized(refresh(anon, pair["refresh_token"]), "Bearer")
    assert_unauthorized(anon.with_token(pair["access_token"]).get("/me"))
    assert api.get("/me").status_code == 200  # the personal token itself stays


def test_logout_cannot_end_someone_elses_login(other_api, anon, pair):
    assert (
        other_api.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code
        == 204
    )
    assert_pair(refresh(anon, pair["refresh_token"]))


def test_logout_needs_credentials(anon, pair):
    assert_unauthorized(anon.post("/auth/logout", json={}), "Bearer")


# -- password changes end every token -------------------------------------------------------------


def assert_all_revoked(anon: Api, secrets: list[str], refresh_token: str) -> None:
    for secret in secrets:
        assert_unauthorized(anon.with_token(secret).get("/me"))
    assert_unauthorized(refresh(anon, refresh_token), "Bearer")


def test_password_change_in_settings_revokes_every_token(
    app, anon, user, read_token, write_token, pair
):
    web = app.test_client()
    login(web, "alice")
    response = web.form(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a brand new secret",
            "new_password_confirm": "a brand new secret",
        },
    )
    assert response.status_code == 302
    assert_all_revoked(anon, [read_token, write_token, pair["access_token"]], pair["refresh_token"])
    assert anon.with_token(None).get("/tokens").status_code == 401
    assert_pair(password_login(anon, "alice", "a brand new secret"))


def test_set_password_revokes_every_token(anon, user, write_token, pair):
    users.set_password(user, "another long secret")
    assert_all_revoked(anon, [write_token, pair["access_token"]], pair["refresh_token"])


def test_password_change_leaves_other_users_tokens(other_api, user):
    users.set_password(user, "another long secret")
    assert other_api.get("/me").status_code == 200


# -- the browser session -------------------------------------------------------------------------


def test_session_can_read_without_a_token(auth_client):
    response = Api(auth_client).get("/me")
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def test_session_writes_need_the_csrf_header(auth_client):
    session_api = Api(auth_client)
    refused = session_api.post("/entries", json={"title": "No token"})
    body = assert_problem(refused, 403)
    assert "X-CSRFToken" in body["detail"]
    wrong = session_api.post("/entries", json={"title": "x"}, headers={"X-CSRFToken": "forged"})
    assert_problem(wrong, 403)
    ok = session_api.post(
        "/entries", json={"title": "With token"}, headers={"X-CSRFToken": auth_client.csrf}
    )
    assert ok.status_code == 201


def test_session_csrf_token_of_another_session_is_refused(auth_client, other_client):
    response = Api(auth_client).post(
        "/entries", json={"title": "x"}, headers={"X-CSRFToken": other_client.csrf}
    )
    assert_problem(response, 403)


def test_session_after_logout_is_401(auth_client):
    auth_client.form("/logout")
    assert_unauthorized(Api(auth_client).get("/me"), "Bearer")


def test_a_second_user_only_sees_their_own_account(app, user):
    carol = make_user("carol")
    secret = make_token(carol)
    assert Api(app.test_client(), secret).get("/me").get_json()["username"] == "carol"


def test_logout_with_a_body_of_null_is_422(anon, pair):
    as_login = anon.with_token(pair["access_token"])
    response = as_login.post("/auth/logout", data="null", content_type="application/json")
    assert_problem(response, 422)
    assert as_login.get("/me").status_code == 200


def test_bearer_calls_start_no_browser_session(api, anon, pair):
    for client in (api, anon.with_token(pair["access_token"]), anon.with_token(None)):
        assert "Set-Cookie" not in client.get("/me").headers
    assert "Set-Cookie" not in api.post("/entries", json={"title": "x"}).headers
