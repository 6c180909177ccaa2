"""Password guessing and account enumeration.

The login throttle counts failures in the database, so two real gunicorn servers on one data
directory (or one PostgreSQL database) share it. An unknown login and a wrong password for a
real one get the same answer: status, body (but for the CSRF token and the echoed login),
headers and cookies; and, with the real argon2 parameters of a live server, about the same time.
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from argon2 import PasswordHasher

from daybook.extensions import db
from daybook.models import User
from tests.factories import PASSWORD, csrf_token_from, make_user
from tests.live_server import LiveServer, daybook_env

WRONG = "not the password at all"
# Seconds for a server to come up: a gunicorn, its worker and its job worker each import the
# app, which on a shared, loaded CI machine can take far longer than on a laptop.
START_TIMEOUT = 120
BAD_CREDENTIALS = "That username or email and password do not match."
# Headers whose values differ between any two answers; cookies are compared apart.
# RateLimit-Reset is the clock second at which each address's own window ends, so two
# answers a second apart differ in it whatever the login.
VOLATILE_HEADERS = {
    "x-request-id",
    "date",
    "set-cookie",
    "content-length",
    "retry-after",
    "ratelimit-reset",
}


# -- a small HTTP client for the live servers: cookies, no redirects, a chosen source address --


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: str
    seconds: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Browser:
    """One browser at one client address: keeps its cookies, never follows a redirect."""

    def __init__(self, server: LiveServer, address: str = "127.0.0.1"):
        self.server = server
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, form=None, json_body=None, headers=None) -> Answer:
        headers = {"Connection": "close", **(headers or {})}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=30, source_address=(self.address, 0)
        )
        try:
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            seconds = time.perf_counter() - started
        finally:
            connection.close()
        answer = Answer(response.status, response.getheaders(), text, seconds)
        for name, value in answer.headers:
            if name.lower() == "set-cookie":
                for morsel in SimpleCookie(value).values():
                    if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                        self.cookies.pop(morsel.key, None)
                    else:
                        self.cookies[morsel.key] = morsel.value
        return answer

    def log_in(self, login: str, password: str) -> Answer:
        """Post the login form with this browser's CSRF token."""
        token = csrf_token_from(self.request("GET", "/login").body)
        form = {"csrf_token": token, "login": login, "password": password}
        return self.request("POST", "/login", form=form)


def live_env(data_dir, postgres_url, **settings):
    if postgres_url:
        settings["DATABASE_URL"] = postgres_url
    return daybook_env(data_dir, **settings)


@pytest.fixture
def two_servers(app, data_dir, postgres_url, tmp_path):
    """Two gunicorn servers, each its own process, on the same data directory and database."""
    make_user("alice")
    make_user("bob")
    db.session.remove()
    env = live_env(data_dir, postgres_url)
    servers = [LiveServer(env, tmp_path / f"server{n}.log") for n in (1, 2)]
    try:
        for server in servers:
            server.start(timeout=START_TIMEOUT)
        yield servers
    finally:
        for server in servers:
            server.kill()  # nothing to finish: the test is over, its data dir goes too


def api_login(server: LiveServer, login: str, password: str, address: str) -> Answer:
    return Browser(server, address).request(
        "POST", "/api/v1/auth/token", json_body={"username": login, "password": password}
    )


def test_the_throttle_holds_across_two_server_processes(two_servers):
    first, second = two_servers
    assert first.process.pid != second.process.pid
    # Per account: failures from five addresses, three at one server and two at the other.
    for n in range(3):
        assert Browser(first, f"127.0.0.{11 + n}").log_in("alice", WRONG).status == 400
    for n in range(2):
        assert api_login(second, "alice", WRONG, f"127.0.0.{14 + n}").status == 401
    # Now even the right password is refused, at either server, from a fresh address.
    page = Browser(first, "127.0.0.31").log_in("alice", PASSWORD)
    assert page.status == 429, page.body[:300]
    assert 0 < int(page.header("Retry-After")) <= 15 * 60 + 1
    api = api_login(second, "alice", PASSWORD, "127.0.0.32")
    assert api.status == 429 and api.header("Content-Type") == "application/problem+json"
    # Per address: five unknown names from one address, split between the servers, then a
    # real account from that address is refused at both; from another address it logs in.
    for n in range(5):
        server = two_servers[n % 2]
        assert Browser(server, "127.0.0.40").log_in(f"ghost{n}", WRONG).status == 400
    for server in two_servers:
        assert Browser(server, "127.0.0.40").log_in("bob", PASSWORD).status == 429
    welcome = Browser(second, "127.0.0.41").log_in("bob", PASSWORD)
    assert welcome.status == 302 and welcome.header("Location") == "/entries"


# -- enumeration: the same answer -----------------------------------------------------------------


def _normalised(response, login: str) -> tuple:
    """Status, headers, cookie names and attributes, and body, without what must differ."""
    body = response.get_data(as_text=True)
    for token in re.findall(r'name="csrf[-_]token" (?:content|value)="([^"]+)"', body):
        body = body.replace(token, "CSRF")
    body = body.replace(login, "LOGIN")
    # The wait counts down from each run's own first failure (Retry-After is checked apart).
    body = re.sub(r"Try again in \d+ seconds", "Try again in N seconds", body)
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS
    )
    cookies = sorted(
        re.sub(r"^([^=]+)=[^;]*", r"\1=VALUE", value)
        for value in response.headers.getlist("Set-Cookie")
    )
    return response.status_code, headers, cookies, body


def _web_failure(app, login: str, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.fetch_csrf("/login")
    return client.form("/login", {"login": login, "password": WRONG})


@pytest.mark.parametrize(
    ("known", "unknown"),
    [("alice", "zelda"), ("alice@example.com", "zelda@example.com"), ("ALICE", "ZELDA")],
)
def test_unknown_login_and_wrong_password_get_the_same_page(app, user, known, unknown):
    assert len(known) == len(unknown)
    real = _web_failure(app, known, "198.51.100.1")
    fake = _web_failure(app, unknown, "198.51.100.2")
    assert real.status_code == 400
    assert BAD_CREDENTIALS in real.get_data(as_text=True)
    assert _normalised(real, known) == _normalised(fake, unknown)


def test_unknown_login_and_wrong_password_get_the_same_api_answer(app, user):
    answers = []
    for login, address in (("alice", "198.51.100.1"), ("zelda", "198.51.100.2")):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        response = client.post("/api/v1/auth/token", json={"username": login, "password": WRONG})
        answers.append(_normalised(response, login))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


def test_the_throttle_does_not_tell_real_accounts_from_unknown_ones(app, user):
    answers = []
    for login in ("alice", "zelda"):
        for n in range(5):
            _web_failure(app, login, f"203.0.113.{n + (10 if login == 'zelda' else 0)}")
        refused = _web_failure(app, login, "198.51.100.9" if login == "alice" else "198.51.100.8")
        assert refused.status_code == 429, login
        assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60 + 1
        answers.append(_normalised(refused, login))
    assert answers[0] == answers[1]


# -- enumeration: the same time, with the real argon2 parameters ------------------------------------


@pytest.fixture
def real_hash_server(app, data_dir, postgres_url, tmp_path):
    """A live server (real argon2 parameters) with twelve accounts hashed at full cost."""
    # The suite's fixture makes hashing cheap in this process; the server is another process,
    # and the stored hashes must be real ones, or a wrong password would be checked cheaply.
    real_hash = PasswordHasher().hash(PASSWORD)
    for n in range(12):
        db.session.add(
            User(
                username=f"known{n}",
                email=f"known{n}@example.com",
                password_hash=real_hash,
                timezone="UTC",
                preferences={},
            )
        )
    db.session.commit()
    db.session.remove()
    server = LiveServer(live_env(data_dir, postgres_url), tmp_path / "server.log")
    try:
        yield server.start(timeout=START_TIMEOUT)
    finally:
        server.kill()


def test_unknown_and_known_logins_take_about_the_same_time(real_hash_server):
    """A coarse check: medians of ten tries each within a factor of two, on a shared machine."""
    # Warm up: the first unknown login makes the server's dummy hash; the first of each kind
    # also loads templates and code paths.
    for login, address in (("unknown-warm", "127.0.0.50"), ("known10", "127.0.0.51")):
        Browser(real_hash_server, address).log_in(login, WRONG)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    shapes: dict[str, set] = {"known": set(), "unknown": set()}
    for n in range(10):
        # Names of one length, each tried once from its own address: no throttle in the way.
        pairs = [("known", f"known{n}"), ("unknown", f"nobody{n}")]
        for kind, login in pairs if n % 2 else reversed(pairs):
            browser = Browser(real_hash_server, f"127.0.{60 + (kind == 'known')}.{n + 1}")
            answer = browser.log_in(login, WRONG)
            assert answer.status == 400, answer.body[:300]
            times[kind].append(answer.seconds)
            shapes[kind].add(_shape(answer, login))
    # The same answer over the wire too, headers and cookies as gunicorn sends them.
    assert shapes["known"] == shapes["unknown"] and len(shapes["known"]) == 1
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    # Real argon2 costs tens of milliseconds; a login that skipped it would be far quicker.
    assert known > 0.01, times
    assert 0.5 <= unknown / known <= 2.0, times


def _shape(answer: Answer, login: str) -> tuple:
    body = answer.body
    for token in re.findall(r'name="csrf[-_]token" (?:content|value)="([^"]+)"', body):
        body = body.replace(token, "CSRF")
    headers = tuple(
        sorted((k.lower(), v) for k, v in answer.headers if k.lower() not in VOLATILE_HEADERS)
    )
    cookies = tuple(
        sorted(
            re.sub(r"^([^=]+)=[^;]*", r"\1=VALUE", v)
            for k, v in answer.headers
            if k.lower() == "set-cookie"
        )
    )
    return answer.status, headers, cookies, body.replace(login, "LOGIN")
