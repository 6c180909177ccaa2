"""Locust scenario: people using their journal in a browser, with think time between pages.

    .venv/bin/locust -f bench/locustfile.py --headless --host http://127.0.0.1:8000 \\
        --users 1000 --spawn-rate 50 --run-time 60s JournalUser
    .venv/bin/locust -f bench/locustfile.py ... HelloUser      # the bare Flask baseline

Run it as a program only: locust imports gevent, which monkey-patches the standard library, so
nothing in the test suite may import this file. bench/load.py runs both scenarios and tabulates
them (see bench/README.md).

A JournalUser signs in through the login form (the CSRF token parsed from the page), then, with
--think-time seconds (5 by default, ±50%) between pages: lists entries (now and then an older
page), opens an entry from the list, searches for a word from a title it saw, writes an entry
and edits one. Every form it posts carries the CSRF token of the page it came from; every POST
is answered with a redirect, which it then follows as a browser would, as a request of its own.

Argon2id makes a login cost about 0.25 CPU-seconds, so 1,000 logins take two cores two
minutes. Unless --logins is at least --users, users share the sessions of the first --logins
users to sign in (as tabs of one browser do); the logins themselves still go through the form.
"""

from __future__ import annotations

import html
import logging
import random
import re

import gevent
import gevent.event
import gevent.lock
from locust import FastHttpUser, events, task
from locust.exception import StopUser

USERNAME = "bench"
PASSWORD = "bench-Quiet-Harbour-7391"  # bench/seed.py's user
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_ENTRY_LINK = re.compile(r'<h2><a href="/entries/(\d+)">([^<]*)</a></h2>')
_FIELD = re.compile(r'<input[^>]*\bname="(title|tags|occurred_at|version)"[^>]*\bvalue="([^"]*)"')
_BODY = re.compile(r'<textarea[^>]*\bname="body"[^>]*>(.*?)</textarea>', re.S)
_WORD = re.compile(r"[^\W\d_]{4,}")
_ENTRY_PATH = re.compile(r"/entries/(\d+)$")
FALLBACK_WORDS = ["the", "and", "with", "after"]
LIST_PAGES = 50  # "older" list pages are picked among the first this many


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument(
        "--think-time",
        type=float,
        default=5.0,
        env_var="LOCUST_THINK_TIME",
        help="Mean seconds a user waits between pages (uniform, ±50%%).",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        env_var="LOCUST_WARMUP",
        help="Seconds after every user is spawned before the figures start (statistics are "
        "reset then): the queue the spawning and the logins built up drains meanwhile.",
    )
    parser.add_argument(
        "--measure",
        type=float,
        default=0.0,
        env_var="LOCUST_MEASURE",
        help="With --warmup: seconds measured after it; then the run stops (0: at --run-time).",
    )
    parser.add_argument(
        "--logins",
        type=int,
        default=50,
        env_var="LOCUST_LOGINS",
        help="How many users sign in through the form; the rest share their sessions.",
    )


_ENVIRONMENT: list = []
log = logging.getLogger("daybook.load")
WARMUP_OVER = "Warm-up over: measuring"
MEASURE_OVER = "Measurement over: stopping"


@events.init.add_listener
def _remember_environment(environment, **_kwargs) -> None:
    _ENVIRONMENT.append(environment)


@events.spawning_complete.add_listener
def _measure_after_warmup(user_count: int, **_kwargs) -> None:
    environment = _ENVIRONMENT[-1]
    options = environment.parsed_options
    if options.warmup <= 0:
        return

    def begin() -> None:
        environment.runner.stats.reset_all()
        log.info(WARMUP_OVER)
        if options.measure > 0:
            gevent.spawn_later(options.measure, finish)

    def finish() -> None:
        log.info(MEASURE_OVER)
        environment.runner.quit()

    gevent.spawn_later(options.warmup, begin)


def _think(user) -> float:
    mean = user.environment.parsed_options.think_time
    return random.uniform(0.5 * mean, 1.5 * mean)


class SessionPool:
    """The session cookies of the users that signed in, for the users that did not."""

    def __init__(self) -> None:
        self.cookies: list = []  # http.cookiejar.Cookie
        self.started = 0
        self.ready = gevent.event.Event()
        self.lock = gevent.lock.Semaphore()

    def take_turn(self, limit: int) -> bool:
        """Return True if this user is one of the `limit` that sign in themselves."""
        with self.lock:
            self.started += 1
            return self.started <= limit


POOL = SessionPool()


class JournalUser(FastHttpUser):
    """One person on the HTML pages."""

    wait_time = _think

    def on_start(self) -> None:
        self.csrf = ""
        self.entries: list[tuple[int, str]] = []
        if POOL.take_turn(self.environment.parsed_options.logins):
            self.login()
            # The first page after a login puts a new CSRF token into the session; share the
            # session only then, or two users would each store one and one token would fail.
            self.list_entries()
            POOL.cookies.append(self._cookie())
            POOL.ready.set()
        else:
            POOL.ready.wait()
            self.client.cookiejar.set_cookie(random.choice(POOL.cookies))
            self.list_entries()

    # -- plumbing ------------------------------------------------------------------------------

    def _cookie(self):
        for cookie in self.client.cookiejar:
            if cookie.name == "daybook_session":
                return cookie
        raise StopUser("signed in without a session cookie")

    def page(self, path: str, name: str) -> str:
        """GET a page; remember its CSRF token; return its HTML ('' when it failed)."""
        with self.client.get(path, name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{resp.status_code}")
                return ""
            text = resp.text or ""
            match = _CSRF.search(text)
            if match:
                self.csrf = match.group(1)
            return text

    def post(self, path: str, name: str, fields: dict[str, str], ok=(302, 303)) -> str | None:
        """POST a form with the CSRF token; return the redirect's target, None when refused."""
        with self.client.post(
            path,
            data={"csrf_token": self.csrf, **fields},
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as resp:
            if resp.status_code == 409:
                resp.success()  # someone else saved the same entry meanwhile: a correct answer
                return None
            if resp.status_code not in ok:
                resp.failure(f"{resp.status_code}")
                return None
            return resp.headers.get("Location") or ""

    def login(self) -> None:
        self.page("/login", "/login")
        target = self.post("/login", "/login", {"login": USERNAME, "password": PASSWORD})
        if target is None:
            raise StopUser("could not sign in")

    def _remember(self, text: str) -> None:
        found = [(int(i), html.unescape(t)) for i, t in _ENTRY_LINK.findall(text)]
        if found:
            self.entries = found

    def _entry_id(self) -> int | None:
        return random.choice(self.entries)[0] if self.entries else None

    # -- what people do ------------------------------------------------------------------------

    @task(4)
    def list_entries(self) -> None:
        if random.random() < 0.2:
            n = random.randint(2, LIST_PAGES)
            self._remember(self.page(f"/entries?page={n}", "/entries?page=[n]"))
        else:
            self._remember(self.page("/entries", "/entries"))

    @task(4)
    def open_entry(self) -> None:
        entry_id = self._entry_id()
        if entry_id is not None:
            self.page(f"/entries/{entry_id}", "/entries/[id]")

    @task(2)
    def search(self) -> None:
        words = [w for _, title in self.entries for w in _WORD.findall(title)]
        word = random.choice(words or FALLBACK_WORDS)
        self.page(f"/search?q={word}", "/search?q=[word]")

    @task(1)
    def write(self) -> None:
        self.page("/entries/new", "/entries/new")
        words = " ".join(random.choices(FALLBACK_WORDS + ["review", "deploy", "meeting"], k=60))
        target = self.post(
            "/entries/new",
            "/entries/new",
            {
                "title": f"Load test note {random.randint(1, 10**9)}",
                "body": f"Wrote this under load.\n\n{words}\n\n- [ ] follow up\n",
                "tags": "load work",
                "occurred_at": "",
                "action": "save",
            },
        )
        if target and _ENTRY_PATH.search(target):
            self.page(target, "/entries/[id]")

    @task(1)
    def edit(self) -> None:
        entry_id = self._entry_id()
        if entry_id is None:
            return
        text = self.page(f"/entries/{entry_id}/edit", "/entries/[id]/edit")
        fields = {name: html.unescape(value) for name, value in _FIELD.findall(text)}
        body = _BODY.search(text)
        if "version" not in fields or body is None:
            return
        fields["body"] = html.unescape(body.group(1)) + "\n\nEdited under load."
        target = self.post(
            f"/entries/{entry_id}/edit", "/entries/[id]/edit", {**fields, "action": "save"}
        )
        if target:
            self.page(target, "/entries/[id]")


class HelloUser(FastHttpUser):
    """The baseline: the same think time against bench/hello_app.py, which answers 'hello'."""

    wait_time = _think

    @task
    def hello(self) -> None:
        self.client.get("/", name="hello")
