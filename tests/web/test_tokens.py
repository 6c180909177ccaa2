"""Settings → API tokens: create (secret shown once), list, revoke, and the API honouring them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from daybook.extensions import db
from daybook.models import ApiToken, Entry
from daybook.services import tokens


@pytest.fixture
def app(make_app):
    # Every app built in this process adds its API rate limit to the shared limiter again, so
    # late in a full run one request counts hundreds of times; keep the limit out of the way.
    app = make_app(API_RATE_LIMIT="1000000/minute")
    with app.app_context():
        yield app


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def create(client, name="laptop", scope="read write", expires_at=""):
    return client.form("/settings/tokens", {"name": name, "scope": scope, "expires_at": expires_at})


def secret_from(response) -> str:
    code = soup(response).select_one("code#new-token")
    assert code is not None, "page shows no new token"
    return code.get_text()


def token_rows(client) -> list[list[str]]:
    page = soup(client.get("/settings/tokens"))
    return [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")[:5]]
        for tr in page.select("table tbody tr")
    ]


def stored_tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_tokens_page_needs_login(client, user):
    response = client.get("/settings/tokens")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_settings_links_to_tokens(auth_client):
    page = soup(auth_client.get("/settings"))
    assert page.select_one('a[href="/settings/tokens"]') is not None


def test_tokens_page_has_a_labelled_create_form(auth_client):
    response = auth_client.get("/settings/tokens")
    assert response.status_code == 200
    page = soup(response)
    form = page.select_one('form[action="/settings/tokens"]')
    assert form.select_one('input[name="csrf_token"]') is not None
    assert form.select_one('label[for="f-name"]') is not None
    assert form.select_one('label[for="f-expires_at"]') is not None
    radios = form.select('input[type="radio"][name="scope"]')
    assert [r["value"] for r in radios] == ["read", "read write"]
    assert all(r.parent.name == "label" for r in radios)
    assert radios[0].has_attr("checked")  # least privilege by default
    assert "No tokens yet." in page.get_text()


def test_create_shows_the_secret_once(app, auth_client, data_dir):
    response = create(auth_client)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = secret_from(response)
    assert secret.startswith("dbk_") and len(secret) > 40
    assert "will not be shown again" in response.get_data(as_text=True)

    again = auth_client.get("/settings/tokens")
    assert secret not in again.get_data(as_text=True)
    assert soup(again).select_one("code#new-token") is None
    assert secret not in auth_client.get("/settings").get_data(as_text=True)

    [token] = stored_tokens()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.scopes == "read write"
    # Nowhere in the database files, not only not in this row.
    for path in data_dir.glob("daybook.sqlite3*"):
        assert secret.encode() not in path.read_bytes()


def test_created_token_is_listed(auth_client):
    create(auth_client, name="phone", scope="read")
    [[name, scopes, created, last_used, expires]] = token_rows(auth_client)
    assert (name, scopes, last_used, expires) == ("phone", "read", "never", "never")
    assert str(datetime.now(UTC).year) in created


def test_new_token_authenticates_the_api(app, auth_client, client):
    secret = secret_from(create(auth_client))
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.json["username"] == "alice"
    [[*_, last_used, _expires]] = token_rows(auth_client)
    assert last_used != "never"


def test_read_token_cannot_write(app, auth_client, client):
    secret = secret_from(create(auth_client, scope="read"))
    assert client.get("/api/v1/entries", headers=bearer(secret)).status_code == 200
    response = client.post("/api/v1/entries", json={"title": "Nope"}, headers=bearer(secret))
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Entry.id))) == 0


def test_read_write_token_can_write(app, auth_client, client):
    secret = secret_from(create(auth_client, scope="read write"))
    response = client.post("/api/v1/entries", json={"title": "Yes"}, headers=bearer(secret))
    assert response.status_code == 201


def test_expiry_is_read_in_the_users_time_zone(app, auth_client, user):
    user.timezone = "Europe/Paris"
    db.session.commit()
    response = create(auth_client, expires_at="2099-06-01")
    assert response.status_code == 200
    [token] = stored_tokens()
    assert token.expires_at == datetime(2099, 5, 31, 22, 0, tzinfo=UTC)
    [[*_, expires]] = token_rows(auth_client)
    assert expires == "Mon 01 Jun 2099, 00:00"


def test_expired_token_is_marked_and_refused(app, auth_client, client, user):
    token, secret = tokens.create_token(
        user, name="old", scopes=["read"], expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    token.expires_at = datetime.now(UTC) - timedelta(days=1)
    db.session.commit()
    [[*_, expires]] = token_rows(auth_client)
    assert expires.startswith("expired ")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_revoke(app, auth_client, client):
    secret = secret_from(create(auth_client, name="laptop"))
    [token] = stored_tokens()
    page = soup(auth_client.get("/settings/tokens"))
    assert page.select_one(f'form[action="/settings/tokens/{token.id}/revoke"] button')

    response = auth_client.form(f"/settings/tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/tokens"
    after = auth_client.get("/settings/tokens").get_data(as_text=True)
    assert "Token revoked." in after
    assert token_rows(auth_client) == []
    assert stored_tokens()[0].revoked_at is not None
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_revoke_twice_is_404(app, auth_client):
    create(auth_client)
    [token] = stored_tokens()
    auth_client.form(f"/settings/tokens/{token.id}/revoke")
    assert auth_client.form(f"/settings/tokens/{token.id}/revoke").status_code == 404


def test_other_users_token_is_404_and_untouched(app, auth_client, other_client, client):
    secret = secret_from(create(auth_client))
    [token] = stored_tokens()
    response = other_client.form(f"/settings/tokens/{token.id}/revoke")
    assert response.status_code == 404
    assert stored_tokens()[0].revoked_at is None
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    assert "laptop" not in other_client.get("/settings/tokens").get_data(as_text=True)


def test_unknown_token_id_is_404(auth_client):
    assert auth_client.form("/settings/tokens/999/revoke").status_code == 404


@pytest.mark.parametrize("path", ["/settings/tokens", "/settings/tokens/1/revoke"])
def test_posts_need_login(client, user, path):
    client.fetch_csrf("/login")
    response = client.form(path, {"name": "x", "scope": "read"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert stored_tokens() == []


def test_create_without_csrf_is_refused(app, auth_client):
    response = auth_client.post("/settings/tokens", data={"name": "x", "scope": "read"})
    assert response.status_code == 400
    assert stored_tokens() == []


def test_revoke_without_csrf_is_refused(app, auth_client):
    create(auth_client)
    [token] = stored_tokens()
    response = auth_client.post(f"/settings/tokens/{token.id}/revoke")
    assert response.status_code == 400
    assert stored_tokens()[0].revoked_at is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scope": "admin"}, "scopes"),
        ({"scope": "write"}, "scopes"),
        ({"scope": ""}, "scopes"),
        ({"expires_at": "2000-01-01"}, "expires_at"),
        ({"expires_at": "next tuesday"}, "expires_at"),
    ],
)
def test_bad_input_rerenders_the_form(app, auth_client, data, field):
    form = {"name": "laptop", "scope": "read write", "expires_at": "", **data}
    response = auth_client.form("/settings/tokens", form)
    assert response.status_code == 400
    page = soup(response)
    assert page.select_one(f"p.error#e-{field}") is not None
    assert page.select_one("code#new-token") is None
    assert page.select_one("#f-name")["value"] == form["name"]
    assert page.select_one("#f-expires_at")["value"] == form["expires_at"]
    checked = page.select_one('input[name="scope"][checked]')
    assert (checked["value"] if checked else "") == (
        form["scope"] if form["scope"] in ("read", "read write") else ""
    )
    assert stored_tokens() == []
