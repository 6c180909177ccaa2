"""Writers that hammer a live Daybook, and the ledger of what it acknowledged.

A write counts as acknowledged only when its whole answer arrived: 201 with the entry's JSON
from the API, or a redirect to the new entry's page from the form. Those, and only those, must
survive anything: a SIGKILL of every server process, a backup taken meanwhile, a full disk.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

USERNAME = "writer"
PASSWORD = "durable-Harbour-Lantern-4821"
HOST = "127.0.0.1"
_ENTRY_PATH = re.compile(r"/entries/(\d+)$")
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
_COOKIE = "daybook_session"
# Tags shared by many entries; each entry also gets one of its own.
SHARED_TAGS = ("durability", "batch-0", "batch-1", "batch-2", "batch-3", "batch-4")
_words = "harbour lantern quiet ledger copper meadow signal orchard ember tide".split()


# -- what was sent and acknowledged --------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One acknowledged entry: its id and exactly the fields as Daybook stores them."""

    marker: str
    via: str
    entry_id: int
    title: str
    body: str
    tags: tuple[str, ...]


def make_payload(marker: str, rng: random.Random) -> tuple[str, str, tuple[str, ...]]:
    """Return a title, a Markdown body and normalised tags, all carrying `marker`."""
    words = " ".join(rng.choices(_words, k=rng.randint(3, 12)))
    paragraphs = [f"{marker} {words}."] + [
        " ".join(rng.choices(_words, k=40)) for _ in range(rng.randint(0, 40))
    ]
    body = "\n\n".join(paragraphs) + "\n\n- [x] survives\n- ümlaut and “quotes”\n"
    tags = (SHARED_TAGS[0], rng.choice(SHARED_TAGS[1:]), f"k{marker}")
    return f"Crash test {marker} — {' '.join(words.split()[:5])}", body, tags


class Ledger:
    """The acknowledged entries, appended to by every writer thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[Sent] = []

    def add(self, sent: Sent) -> None:
        with self._lock:
            self._sent.append(sent)

    def snapshot(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)


# -- HTTP ----------------------------------------------------------------------------------------


class Unacknowledged(Exception):
    """The server answered, but not with an acknowledgement of the write."""


class Browser:
    """One keep-alive connection and the session cookie, like a browser tab or an API client."""

    def __init__(self, port: int, timeout: float = 20):
        self.port = port
        self.timeout = timeout
        self.cookie: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        """Send one request; connection errors propagate (the write is then unacknowledged)."""
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = f"{_COOKIE}={self.cookie}"
        conn = self._conn or http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        self._conn = None
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        for header in resp.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == _COOKIE:
                self.cookie = rest.split(";", 1)[0] or None
        if resp.will_close:
            conn.close()
        else:
            self._conn = conn
        return resp.status, resp, data

    def json(self, method: str, path: str, payload: dict | None = None, token: str | None = None):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, path, body=body, headers=headers)

    def form(self, path: str, fields: dict[str, str]):
        body = urlencode(fields).encode()
        return self.request(
            "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

    def csrf(self, path: str) -> str:
        status, _resp, data = self.request("GET", path)
        match = _CSRF.search(data.decode(errors="replace"))
        if status != 200 or not match:
            raise Unacknowledged(f"GET {path} answered {status} without a CSRF token")
        return match.group(1)

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        """Sign in through the login form, as a browser does."""
        self.cookie = None
        token = self.csrf("/login")
        status, resp, _ = self.form(
            "/login", {"csrf_token": token, "login": username, "password": password}
        )
        if status != 302:
            raise Unacknowledged(f"POST /login answered {status}")


def api_token(port: int, username: str = USERNAME, password: str = PASSWORD) -> str:
    """Sign in over the API and make a personal read-write token (docs/api.md)."""
    client = Browser(port)
    status, _, data = client.json(
        "POST", "/api/v1/auth/token", {"username": username, "password": password}
    )
    assert status == 200, f"POST /api/v1/auth/token answered {status}: {data[:300]!r}"
    access = json.loads(data)["access_token"]
    status, _, data = client.json(
        "POST", "/api/v1/tokens", {"name": "durability", "scopes": ["read", "write"]}, access
    )
    assert status == 201, f"POST /api/v1/tokens answered {status}: {data[:300]!r}"
    client.reset()
    return json.loads(data)["token"]


def post_entry_api(client: Browser, token: str, title: str, body: str, tags) -> int:
    """Create an entry over the API; return its id, or raise if it was not acknowledged."""
    status, _, data = client.json(
        "POST", "/api/v1/entries", {"title": title, "body": body, "tags": list(tags)}, token
    )
    if status != 201:
        raise Unacknowledged(f"API {status}")
    return json.loads(data)["id"]


def post_entry_form(client: Browser, csrf: str, title: str, body: str, tags) -> int:
    """Create an entry through the form; return its id, or raise if it was not acknowledged."""
    fields = {"csrf_token": csrf, "title": title, "body": body, "tags": " ".join(tags)}
    status, resp, _ = client.form("/entries/new", {**fields, "occurred_at": "", "action": "save"})
    match = _ENTRY_PATH.search(resp.getheader("Location") or "")
    if status not in (302, 303) or not match:
        # A redirect to /login is no acknowledgement: the session was not recognised.
        raise Unacknowledged(f"form {status} {resp.getheader('Location')}")
    return int(match.group(1))


# -- writers -------------------------------------------------------------------------------------

_markers = itertools.count(1)
_marker_lock = threading.Lock()


def next_marker(run: str) -> str:
    with _marker_lock:
        return f"zq{run}x{next(_markers):06d}"


class Writer(threading.Thread):
    """A thread writing entries as fast as the server takes them, through the API or the form."""

    def __init__(
        self,
        via: str,
        port: int,
        ledger: Ledger,
        stop: threading.Event,
        *,
        token: str = "",
        run_id: str = "r",
        seed: int = 0,
    ):
        super().__init__(name=f"writer-{via}-{seed}", daemon=True)
        self.via, self.ledger, self.stop_event = via, ledger, stop
        self.token, self.run_id = token, run_id
        self.rng = random.Random(seed)
        self.client = Browser(port)
        self.attempts = 0
        self.outcomes: Counter = Counter()
        self._csrf: str | None = None
        self._logged_in = False

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.write_one()
            except Unacknowledged as exc:
                self.outcomes[str(exc)] += 1
                self._csrf = None
            except (OSError, http.client.HTTPException) as exc:
                # The server is down or was killed mid-answer: the outcome is unknown.
                self.outcomes[type(exc).__name__] += 1
                self.client.reset()
                self.stop_event.wait(0.05)

    def write_one(self) -> None:
        if self.via == "form" and self._csrf is None:
            if not self._logged_in:
                self.client.login()
                self._logged_in = True
            try:
                self._csrf = self.client.csrf("/entries/new")
            except Unacknowledged:
                self._logged_in = False
                raise
        marker = next_marker(self.run_id)
        title, body, tags = make_payload(marker, self.rng)
        self.attempts += 1
        if self.via == "api":
            entry_id = post_entry_api(self.client, self.token, title, body, tags)
        else:
            try:
                entry_id = post_entry_form(self.client, self._csrf, title, body, tags)
            except Unacknowledged:
                self._logged_in = False  # the session may be gone: log in again
                raise
        self.ledger.add(Sent(marker, self.via, entry_id, title, body, tags))
        self.outcomes["acknowledged"] += 1
        if self.via == "form":
            # Follow the redirect as a browser does; it also takes the "Entry saved." flash out
            # of the session, which would otherwise grow with every write.
            self.client.request("GET", f"/entries/{entry_id}")


def start_writers(port: int, token: str, *, api: int = 2, form: int = 2, run_id: str = "r"):
    """Start `api` API writers and `form` form writers; return (ledger, stop event, writers).

    One entry carrying every shared tag is written first, alone: two requests that create the
    same new tag name at once can fail on PostgreSQL (a race on uq_tag_user_id_name, a bug of
    its own), and that is not what these writers are here to test.
    """
    ledger, stop = Ledger(), threading.Event()
    first = Browser(port)
    marker = next_marker(run_id)
    title, body, _ = make_payload(marker, random.Random(marker))
    entry_id = post_entry_api(first, token, title, body, SHARED_TAGS)
    first.reset()
    ledger.add(Sent(marker, "api", entry_id, title, body, SHARED_TAGS))
    writers = [
        Writer(via, port, ledger, stop, token=token, run_id=run_id, seed=n)
        for n, via in enumerate(["api"] * api + ["form"] * form)
    ]
    for writer in writers:
        writer.start()
    return ledger, stop, writers


def stop_writers(stop: threading.Event, writers: list[Writer]) -> None:
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
        assert not writer.is_alive(), f"{writer.name} did not stop"
        writer.client.reset()


def summary(writers: list[Writer]) -> str:
    total: Counter = Counter()
    for writer in writers:
        total.update({f"{writer.via}: {k}": v for k, v in writer.outcomes.items()})
    return ", ".join(f"{k} × {v}" for k, v in sorted(total.items()))


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
