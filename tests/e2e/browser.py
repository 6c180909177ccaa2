"""Daybook in a real browser: Debian's Chromium, driven by Playwright, against gunicorn.

The fixtures live here rather than in tests/e2e/conftest.py so that tests/security can import
them too. Each pytest (xdist worker) process launches one Chromium; each server has a fresh
data directory made from one migrated SQLite file. The browser journeys run once, on SQLite:
with DAYBOOK_TEST_DATABASE_URL set they are skipped (the services they drive are covered on
PostgreSQL by the rest of the suite).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.databases import ON_POSTGRES
from tests.live_server import ROOT, LiveServer, daybook_env, missing_service

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the rest keep it from calling Google's services, and the
# resolver rule makes every host but the test server unreachable, so nothing leaves the machine.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
RESULTS = ROOT / "test-results"
# A busy CI machine can take seconds over a page; contexts get the same limit (browser_context).
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)
PASSWORD = "daybook-e2e-Pa55word"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def require_browser() -> None:
    """Skip on the PostgreSQL run; skip (or fail in CI) where Chromium is missing."""
    if ON_POSTGRES:
        pytest.skip("the browser journeys run once, on SQLite")
    if not os.access(CHROMIUM, os.X_OK):
        missing_service(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")


class _Chromium:
    """The process's one Playwright and Chromium: the sync API allows a single Playwright per
    thread, and both tests/e2e and tests/security ask for the browser."""

    playwright: Playwright | None = None
    browser: Browser | None = None

    @classmethod
    def get(cls) -> Browser:
        if cls.browser is None:
            cls.playwright = sync_playwright().start()
            cls.browser = cls.playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
        return cls.browser

    @classmethod
    def stop(cls) -> None:
        if cls.browser is not None:
            cls.browser.close()
            cls.browser = None
        if cls.playwright is not None:
            cls.playwright.stop()
            cls.playwright = None


@pytest.fixture(scope="session")
def chromium(request) -> Browser:
    """One headless Chromium for this test process, closed when the session ends."""
    require_browser()
    request.config.add_cleanup(_Chromium.stop)
    return _Chromium.get()


@pytest.fixture(scope="session")
def migrated_sqlite(request) -> Path:
    """An empty Daybook database at head: the suite's own migrated file, copied per server."""
    require_browser()  # before asking for migrated_db, which would set up PostgreSQL
    return request.getfixturevalue("migrated_db")


@pytest.fixture(scope="session")
def start_server(tmp_path_factory, migrated_sqlite) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn on a fresh data directory (settings as DAYBOOK_* names without prefix)."""
    servers: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        data_dir = tmp_path_factory.mktemp("e2e-data")
        shutil.copy(migrated_sqlite, data_dir / "daybook.sqlite3")
        # Invites on, so that the settings page has all its sections and /register works; no
        # job worker beside gunicorn, as no page under test waits for a job.
        settings = {"REGISTRATION": "invite", "EMBEDDED_WORKER": "0", **settings}
        server = LiveServer(daybook_env(data_dir, **settings), data_dir / "server.log")
        servers.append(server.start())
        return server

    yield start
    for server in servers:  # all at once, then wait for each
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server.stop()


def has_no_account(server: LiveServer) -> bool:
    """Whether the server is still at first-run setup."""
    try:
        with urllib.request.urlopen(f"{server.url}/setup", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


# Servers still at first-run setup, in this test process; start_server stops them at the end.
_FIRST_RUN_SERVERS: list[LiveServer] = []


def first_run_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """Take a server still at first-run setup from those tests handed on, or start one."""
    pool = _FIRST_RUN_SERVERS
    while pool:
        server = pool.pop()
        if has_no_account(server):
            return server
    return start_server()


@pytest.fixture
def fresh_server(start_server) -> Iterator[LiveServer]:
    """A Daybook with no account yet: first-run setup ahead.

    A test that deletes its account at the end hands the server on to the next test, which
    saves starting another gunicorn; after a test that did not, the next one gets a new server.
    """
    server = first_run_server(start_server)
    yield server
    if has_no_account(server):
        _FIRST_RUN_SERVERS.append(server)


# -- what the browser saw ------------------------------------------------------------------------

# Chromium logs this for every answer >= 400, the page itself included.
STATUS_CONSOLE = re.compile(
    r"^Failed to load resource: the server responded with a status of (\d+)"
)


@dataclass
class Watch:
    """Console errors, uncaught exceptions, failed requests and error answers in a context.

    A test that means to get an error page (a 409 conflict, a 400 form) says so with
    `allow(status, path)`; everything else counts as a problem.
    """

    problems: list[str] = field(default_factory=list)
    allowed: set[tuple[int, str]] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        context.on("requestfailed", self._failed)
        context.on("response", self._response)

    def allow(self, status: int, path: str) -> None:
        self.allowed.add((status, path.split("?")[0]))

    def _is_allowed(self, status: int, url: str) -> bool:
        path = "/" + url.split("/", 3)[-1] if url.count("/") >= 3 else url
        return (status, path.split("?")[0]) in self.allowed

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url") or (message.page.url if message.page else "")
        status = STATUS_CONSOLE.match(message.text)
        if status and self._is_allowed(int(status.group(1)), url):
            return
        self.problems.append(f"console {message.type} on {url}: {message.text}")

    def _failed(self, request) -> None:
        # A navigation cancels what the previous page was still loading (its favicon, say).
        if request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._is_allowed(response.status, response.url):
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def check(self) -> None:
        """Fail with everything seen since the last check, then start afresh."""
        problems, self.problems = self.problems, []
        assert not problems, "the browser reported:\n" + "\n".join(problems)


@contextmanager
def browser_context(
    browser: Browser, server: LiveServer, *, watched: bool = True, **options
) -> Iterator[tuple[BrowserContext, Watch]]:
    """A fresh context (cookies, storage) on `server`; with `watched`, checked when it closes."""
    context = browser.new_context(base_url=server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    watch = Watch()
    if watched:
        watch.attach(context)
    try:
        yield context, watch
        watch.check()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    """Save a full-page PNG under test-results/ (kept by CI as an artefact)."""
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


def csrf(page_or_html: Page | str) -> str:
    """Return the CSRF token from a page's <meta name="csrf-token">."""
    html = page_or_html if isinstance(page_or_html, str) else page_or_html.content()
    match = CSRF_META.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def no_horizontal_scroll(page: Page) -> tuple[int, int]:
    """Return (scrollWidth, clientWidth) of the document, for an assertion."""
    return page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )


# -- getting an account and some content, without driving the forms -----------------------------


def set_up_account(context: BrowserContext, username: str = "ada") -> None:
    """Create the first account through /setup with the context's request API (logs it in)."""
    html = context.request.get("/setup").text()
    response = context.request.post(
        "/setup",
        form={
            "csrf_token": csrf(html),
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        max_redirects=0,
    )
    assert response.status == 302, response.text()[:500]


def post_form(
    context: BrowserContext,
    path: str,
    data: dict[str, str],
    status: int = 302,
    token: str | None = None,
):
    """POST a form as the context's logged-in user (fetching a CSRF token unless given)."""
    token = token or csrf(context.request.get("/settings").text())
    response = context.request.post(path, form={"csrf_token": token, **data}, max_redirects=0)
    assert response.status == status, f"{path}: {response.status} {response.text()[:500]}"
    return response


def create_entry(
    context: BrowserContext, title: str, body: str, tags: str = "", token: str | None = None
) -> int:
    """Create an entry through the form; return its id."""
    form = {"title": title, "body": body, "tags": tags, "occurred_at": "", "action": "save"}
    response = post_form(context, "/entries/new", form, token=token)
    return int(response.headers["location"].rstrip("/").rsplit("/", 1)[-1])


# -- accessibility ---------------------------------------------------------------------------------

AXE_SOURCE = (Path(__file__).with_name("vendor") / "axe.min.js").read_text(encoding="utf-8")
AXE_RUN = """async (options) => {
  const results = await window.axe.run(document, options);
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


@dataclass(frozen=True)
class KnownProblem:
    """A violation left in place for a reason, ignored on matching pages and elements only."""

    rule: str
    page: str  # a regular expression searched in the page's URL
    target: str  # a substring of the element's selector; "" for any
    reason: str


def axe_violations(
    page: Page,
    *,
    rules: list[str] | None = None,
    impacts: tuple[str, ...] = ("serious", "critical"),
    known: tuple[KnownProblem, ...] = (),
) -> list[str]:
    """Run axe-core on the page (all rules, or these); describe each violation of these impacts.

    The page's context must have been made with bypass_csp=True: Daybook's CSP forbids the
    inline script that add_script_tag(content=...) adds.
    """
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(content=AXE_SOURCE)
    options: dict = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    found = []
    for violation in page.evaluate(AXE_RUN, options):
        if violation["impact"] not in impacts:
            continue
        targets = [
            target
            for target in violation["targets"]
            if not any(
                k.rule == violation["id"] and re.search(k.page, page.url) and k.target in target
                for k in known
            )
        ]
        if targets:
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} — "
                + ", ".join(targets[:5])
            )
    return found
