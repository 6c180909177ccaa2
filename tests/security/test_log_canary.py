"""Secrets and journal text never reach the logs; refusals do, with their request id.

A live server logs at DEBUG as JSON (everything it and its libraries print goes to one file)
while a user registers, fails to log in, logs in, writes entries through the form and the API,
searches for them, makes and uses an API token, trades the password for a token pair, and
changes the password. Canary strings stand for each secret: none may appear in any log line,
raw or URL-encoded. Failed logins and refused requests must appear, under the request id sent.
"""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import quote, quote_plus

import pytest

from daybook.extensions import db
from tests.api.conftest import make_token
from tests.factories import PASSWORD, csrf_token_from, make_user
from tests.live_server import LiveServer
from tests.security.test_login_attacks import START_TIMEOUT, Browser, live_env

RUN = secrets.token_hex(4)
CANARIES = {
    "password": f"Canary-Password-{RUN}-one",
    "new password": f"Canary-Password-{RUN}-two",
    "wrong password": f"Canary-Wrong-{RUN}-guess",
    "entry text": f"canaryjournal{RUN}",
    "api entry text": f"canaryapi{RUN}",
}


@pytest.fixture
def server(app, data_dir, postgres_url, tmp_path):
    """A live server logging everything at DEBUG as JSON, and a second user, bob."""
    bob = make_user("bob")
    tokens = {"write": make_token(bob), "read": make_token(bob, ("read",), name="reader")}
    bob_id = bob.id
    db.session.remove()
    env = live_env(
        data_dir, postgres_url, REGISTRATION="open", LOG_LEVEL="DEBUG", LOG_FORMAT="json"
    )
    live = LiveServer(env, tmp_path / "server.log")
    try:
        live.start(timeout=START_TIMEOUT)
        yield live, bob_id, tokens
    finally:
        live.stop()


def form_post(browser: Browser, page: str, path: str, form: dict, **headers):
    token = csrf_token_from(browser.request("GET", page).body)
    return browser.request("POST", path, form={"csrf_token": token, **form}, headers=headers)


def secrets_in_a_realistic_session(server: LiveServer, bob_tokens: dict[str, str]) -> dict:
    """Walk through the app as a user would; return the secrets the server handed out."""
    alice = Browser(server)
    password, new_password = CANARIES["password"], CANARIES["new password"]
    account = {"username": "alice", "email": "alice@example.com", "password": password}
    account["password_confirm"] = password
    assert form_post(alice, "/register", "/register", account).status == 302
    assert form_post(alice, "/entries", "/logout", {}).status == 302
    failed = form_post(
        alice,
        "/login",
        "/login",
        {"login": "alice", "password": CANARIES["wrong password"]},
        **{"X-Request-ID": "canary-failed-login"},
    )
    assert failed.status == 400
    assert (
        form_post(alice, "/login", "/login", {"login": "alice", "password": password}).status == 302
    )

    text = CANARIES["entry text"]
    entry = {"title": f"Plan {text}", "body": f"The {text} plan.", "tags": "private"}
    created = form_post(alice, "/entries/new", "/entries/new", {**entry, "occurred_at": ""})
    assert created.status == 302
    entry_path = created.header("Location")
    assert alice.request("GET", f"/search?q={quote(text)}").status == 200
    assert (
        alice.request("GET", f"/search?q={quote(text)}&tag=private&from=2000-01-01").status == 200
    )
    assert alice.request("GET", f"/entries?tag=private&q={quote(text)}").status == 200

    page = form_post(
        alice, "/settings/tokens", "/settings/tokens", {"name": "ci", "scope": "read write"}
    )
    assert page.status == 200
    (pat,) = re.findall(r"dbk_[A-Za-z0-9_-]{20,}", page.body)
    api = Browser(server)
    bearer = {"Authorization": f"Bearer {pat}"}
    api_text = CANARIES["api entry text"]
    answer = api.request(
        "POST", "/api/v1/entries", json_body={"title": api_text, "body": api_text}, headers=bearer
    )
    assert answer.status == 201
    assert api.request("GET", f"/api/v1/search?q={api_text}", headers=bearer).status == 200
    assert api.request("GET", f"/api/v1/entries?q={api_text}", headers=bearer).status == 200
    pair = api.request(
        "POST", "/api/v1/auth/token", json_body={"username": "alice", "password": password}
    )
    assert pair.status == 200
    tokens = json.loads(pair.body)
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.request("GET", "/api/v1/me", headers=access).status == 200
    refreshed = api.request(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status == 200
    wrong = api.request(
        "POST",
        "/api/v1/auth/token",
        json_body={"username": "alice", "password": CANARIES["wrong password"]},
        headers={"X-Request-ID": "canary-failed-api-login"},
    )
    assert wrong.status == 401

    change = {"current_password": password, "new_password": new_password}
    change["new_password_confirm"] = new_password
    assert form_post(alice, "/settings", "/settings/password", change).status == 302

    # Bob reaches for alice's entry: refused as not found, and logged under his request ids.
    bob = Browser(server, "127.0.0.2")
    assert form_post(bob, "/login", "/login", {"login": "bob", "password": PASSWORD}).status == 302
    refused = bob.request("GET", entry_path, headers={"X-Request-ID": "canary-refused-page"})
    assert refused.status == 404
    entry_id = entry_path.rsplit("/", 1)[1]
    bob_api = {
        "Authorization": f"Bearer {bob_tokens['write']}",
        "X-Request-ID": "canary-refused-api",
    }
    assert api.request("GET", f"/api/v1/entries/{entry_id}", headers=bob_api).status == 404
    reader = {
        "Authorization": f"Bearer {bob_tokens['read']}",
        "X-Request-ID": "canary-refused-scope",
    }
    forbidden = api.request("POST", "/api/v1/entries", json_body={"title": "x"}, headers=reader)
    assert forbidden.status == 403
    return {
        "personal token": pat,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "new refresh token": json.loads(refreshed.body)["refresh_token"],
        "session cookie": alice.cookies["daybook_session"],
    }


def forms_of(secret: str) -> set[str]:
    """The secret as it could be written: raw, URL-encoded either way, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def test_secrets_and_entry_text_never_reach_the_logs(server):
    live, bob_id, bob_tokens = server
    handed_out = secrets_in_a_realistic_session(live, bob_tokens)
    live.stop()
    log = live.log.read_text()
    lines = log.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(events) > 30, log[-2000:]  # the server did log, as JSON

    leaks = []
    for name, secret in {**CANARIES, **handed_out, "bob's token": bob_tokens["write"]}.items():
        for form in forms_of(secret):
            leaks += [f"{name}: {line[:200]}" for line in lines if form in line]
    assert not leaks, "\n".join(leaks)

    def logged(request_id: str) -> list[dict]:
        return [e for e in events if e.get("request_id") == request_id]

    failed = logged("canary-failed-login")
    assert any(e["event"] == "login failed" and e.get("login") == "alice" for e in failed), failed
    assert any(e["event"] == "request" and e["status"] == 400 for e in failed), failed
    api_failed = logged("canary-failed-api-login")
    assert any(e["event"] == "login failed" and e.get("login") == "alice" for e in api_failed)
    assert any(e["event"] == "request" and e["status"] == 401 for e in api_failed), api_failed
    for request_id, status in (
        ("canary-refused-page", 404),
        ("canary-refused-api", 404),
        ("canary-refused-scope", 403),
    ):
        lines_for = logged(request_id)
        assert any(e["event"] == "request" and e["status"] == status for e in lines_for), (
            request_id,
            lines_for,
        )
    # Who was refused: bob, whether he came with his session or with a bearer token.
    for request_id in ("canary-refused-page", "canary-refused-api", "canary-refused-scope"):
        assert any(e.get("user_id") == bob_id for e in logged(request_id)), request_id
