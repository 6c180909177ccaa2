"""Stored and reflected XSS in a real browser: hostile text through every field, nothing runs.

Every payload in xss_payloads.py goes into titles, bodies, tags, search fields, tag names,
account fields, token names, previews and the stale-edit pages of a live Daybook, and each page
that shows them is loaded in Chromium. A hook installed before any page script replaces
alert/confirm/prompt/print with a recorder; the test fails on a call, a dialog, a global a
payload sets (window.__xss), a frame, or anything in the DOM that could run script (a handler
attribute, a javascript:/data:/vbscript: URL as the browser itself parses it, a script that is
not Daybook's own file, style, base, meta refresh and the like).

The contexts bypass the Content-Security-Policy on purpose: CSP is the second line of defence,
and this tests the first one, escaping and sanitising. (The other browser tests run with the CSP
and fail on any violation it reports.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page

from tests.e2e import browser
from tests.e2e.browser import (
    PASSWORD,
    create_entry,
    csrf,
    first_run_server,
    post_form,
    set_up_account,
)
from tests.e2e.xss_probe import Probe, probed_context, submit
from tests.live_server import LiveServer
from tests.security.xss_payloads import PAYLOADS, TEMPLATE_RESULTS

# The browser fixtures (tests/e2e/conftest.py is not seen from here).
chromium = browser.chromium
migrated_sqlite = browser.migrated_sqlite
start_server = browser.start_server

MARKER = "xssmarker"
TITLE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def packed(items: list[str], limit: int, sep: str = " ") -> list[str]:
    """Join items into strings of at most `limit` characters (longer items are cut)."""
    out: list[str] = []
    for item in items:
        item = item[:limit]
        if out and len(out[-1]) + len(sep) + len(item) <= limit:
            out[-1] += sep + item
        else:
            out.append(item)
    return out


def as_input_value(text: str) -> str:
    """What a one-line input shows for `text` put in its value attribute."""
    return re.sub(r"[\r\n]", "", text).replace("\x00", "\ufffd")


def one_line(payload: str) -> str:
    return " ".join(payload.split())


BODY_PAYLOADS = [p for p in PAYLOADS if "\x00" not in p]  # a body with NUL is refused
TITLE_PAYLOADS = [t for t in map(one_line, PAYLOADS) if t and not TITLE_CONTROL.search(t)]
BODIES = [
    "\n\n".join([MARKER, *(f"{p}\n\n{MARKER}" for p in c)]) for c in chunks(BODY_PAYLOADS, 24)
]
TITLES = packed(TITLE_PAYLOADS, 200 - len(MARKER) - 1)
TITLES = [f"{MARKER} {t}" for t in TITLES]
# Short and without separators: what a tag-name error message echoes (its first 30 characters).
COMPACT = [p for p in PAYLOADS if len(p) <= 30 and not re.search(r"[\s,]", p)]
EVERYTHING = "\n".join(PAYLOADS)
ALL_BODIES = "\n\n".join(BODY_PAYLOADS)
TOKENS = 30  # named after a third of the corpus: each one re-renders the growing token list


@dataclass
class XssSite:
    server: LiveServer
    state: dict
    body_entries: list[tuple[int, str, str]]  # (id, title, body)
    title_entries: list[tuple[int, str]]
    invite: str
    setup_probe: Probe  # the setup form, checked while there was no account yet


@pytest.fixture(scope="module")
def xss_site(chromium, start_server) -> XssSite:
    """Daybook with an account, entries made of payloads and tokens named by them.

    Before the account exists, the setup form is sent every payload and checked (setup_probe).
    """
    server = first_run_server(start_server)
    with probed_context(chromium, server, TEMPLATE_RESULTS) as (context, setup_probe):
        page = context.new_page()
        setup_probe.visit(page, "/setup")
        fields = {
            "username": EVERYTHING,
            "email": EVERYTHING,
            "password": "",
            "password_confirm": "",
        }
        if submit(page, "/setup", fields) != 400:
            setup_probe.problems.append("the setup form did not answer 400")
        setup_probe.check(page, "setup form with every payload")
    context = chromium.new_context(base_url=server.url)
    try:
        set_up_account(context, "mallory")
        token = csrf(context.request.get("/settings").text())
        body_entries, title_entries = [], []
        for i in range(max(len(BODIES), len(TITLES))):
            title = TITLES[i] if i < len(TITLES) else f"{MARKER} {i}"
            if i < len(BODIES):
                entry = create_entry(context, title, BODIES[i], "xss probe/x.y_z-1", token)
                body_entries.append((entry, title, BODIES[i]))
            else:
                entry = create_entry(context, title, MARKER, "xss", token)
                title_entries.append((entry, title))
        create_entry(context, "Tag to rename", MARKER, "rename-me", token)
        for name in packed(TITLE_PAYLOADS, 100)[:TOKENS]:
            post_form(context, "/settings/tokens", {"name": name, "scope": "read"}, 200, token)
        invite_page = post_form(context, "/settings/invites", {}, 200, token).text()
        invite = re.search(r"/register\?invite=([\w-]+)", invite_page)
        assert invite, invite_page
        state = context.storage_state()
    finally:
        context.close()
    return XssSite(server, state, body_entries, title_entries, invite.group(1), setup_probe)


@pytest.fixture
def probe_as_writer(chromium, xss_site) -> Iterator[tuple[Page, Probe]]:
    """A page logged in as the payloads' author, without CSP, probed."""
    with probed_context(
        chromium, xss_site.server, TEMPLATE_RESULTS, storage_state=xss_site.state
    ) as (ctx, probe):
        yield ctx.new_page(), probe
        probe.assert_clean()


def test_corpus_is_large_and_every_payload_is_used():
    assert len(PAYLOADS) >= 150 and len(COMPACT) >= 10
    limit = 200 - len(MARKER) - 1
    assert all(any(p[:limit] in title for title in TITLES) for p in TITLE_PAYLOADS)
    assert all(any(p in body for body in BODIES) for p in BODY_PAYLOADS)
    # Only NUL keeps a payload out of bodies, and only control characters out of titles.
    assert len(BODY_PAYLOADS) >= len(PAYLOADS) - 5 and len(TITLE_PAYLOADS) >= len(PAYLOADS) - 5


def test_the_probe_sees_script_that_runs(chromium, xss_site):
    """The detector itself: markup put in by script (bypassing Daybook) is caught."""
    with probed_context(
        chromium, xss_site.server, TEMPLATE_RESULTS, storage_state=xss_site.state
    ) as (ctx, probe):
        page = ctx.new_page()
        probe.visit(page, "/entries")
        page.evaluate(
            """() => document.querySelector("main").insertAdjacentHTML("beforeend",
              '<img src=x onerror=alert(7)><a href="jav&#x09;ascript:x">x</a>'
              + '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>')"""
        )
        page.wait_for_function("() => window.__xss === 1 && (window.__xssHits || []).length")
        probe.check(page, "canary")
    caught = "\n".join(probe.problems)
    for expected in (
        "called alert(7)",
        "window.__xss = 1",
        "handler onerror",
        "javascript: URL",
        "element: <iframe",
        "frames",
    ):
        assert expected in caught, caught


def test_entries_made_of_payloads_run_nothing(probe_as_writer, xss_site):
    page, probe = probe_as_writer
    for entry_id, title, body in xss_site.body_entries:
        probe.visit(page, f"/entries/{entry_id}")
        assert page.locator(".entry header h1").inner_text() == title
        probe.visit(page, f"/entries/{entry_id}/edit")
        assert page.locator("#f-title").input_value() == title
        assert page.locator("#f-body").input_value() == body
    listed: list[str] = []
    for number in range(1, len(TITLES) // 20 + 2):
        probe.visit(page, f"/entries?page={number}")
        listed += page.locator(".entry-card h2").all_inner_texts()
    assert set(TITLES) <= set(listed)
    found: list[str] = []
    for number in range(1, len(TITLES) // 20 + 2):
        probe.visit(page, "/search?" + urlencode({"q": MARKER, "page": number}))
        found += page.locator(".entry-card h2").all_inner_texts()
    assert set(TITLES) <= set(found)
    probe.visit(page, "/tags")


def test_previews_run_nothing(probe_as_writer):
    page, probe = probe_as_writer
    body = ALL_BODIES
    # With JavaScript: the editor fetches /entries/preview and puts the HTML into the page.
    probe.visit(page, "/entries/new")
    page.locator("#f-body").fill(body)
    with page.expect_response("**/entries/preview"):
        page.locator("#preview-button").click()
    page.locator("#preview-body p").first.wait_for()
    probe.check(page, "live preview")
    # Without: the form posts action=preview and the server renders the page.
    page.locator("#f-title").fill(TITLES[0])
    with page.expect_navigation():
        page.evaluate(
            "() => document.getElementById('entry-form')"
            ".requestSubmit(document.getElementById('preview-button'))"
        )
    probe.check(page, "server preview")
    assert page.locator("#f-body").input_value() == body
    # The preview endpoint's own answer, opened as a page.
    submit(page, "/entries/preview", {"body": body})
    probe.check(page, "preview fragment")


def test_forms_echoing_payloads_run_nothing(probe_as_writer, xss_site):
    page, probe = probe_as_writer
    probe.visit(page, "/entries/new")
    # Bad tags: the form comes back (400) with title, body and tags as typed, and the error
    # message quotes the first bad tag.
    for i, tag in enumerate(COMPACT[::5]):
        fields = {"title": TITLES[i % len(TITLES)], "body": BODIES[i % len(BODIES)], "tags": tag}
        assert submit(page, "/entries/new", {**fields, "occurred_at": "", "action": "save"}) == 400
        probe.check(page, f"new entry with tag {tag!r}")
        assert page.locator("#f-tags").input_value() == as_input_value(tag)
    submit(page, "/entries/new", {"title": "t", "body": "", "tags": EVERYTHING, "occurred_at": ""})
    probe.check(page, "new entry with every payload as tags")
    submit(page, "/entries/new", {"title": "t", "body": "", "tags": "", "occurred_at": EVERYTHING})
    probe.check(page, "new entry with every payload as the date")

    # The stale-edit page: both versions, and the form with what was typed.
    entry_id, _, _ = xss_site.body_entries[0]
    probe.visit(page, f"/entries/{entry_id}/edit")
    fields = {"title": TITLES[1], "body": ALL_BODIES, "tags": "conflict", "occurred_at": ""}
    assert submit(page, f"/entries/{entry_id}/edit", {**fields, "version": "0"}) == 409
    probe.check(page, "conflict page")

    # The trashed-while-editing page.
    trashed_id, _ = xss_site.title_entries[-1]
    probe.visit(page, f"/entries/{trashed_id}/edit")
    post_form(page.context, f"/entries/{trashed_id}/delete", {})
    assert submit(page, f"/entries/{trashed_id}/edit", {**fields, "version": "1"}) == 409
    probe.check(page, "trashed conflict page")
    post_form(page.context, f"/entries/{trashed_id}/restore", {})

    # Tag rename: the form comes back with the name and an error quoting it.
    probe.visit(page, "/tags/rename-me/edit")
    assert submit(page, "/tags/rename-me/edit", {"new_name": EVERYTHING}) == 400
    probe.check(page, "tag rename with every payload")
    for tag in COMPACT[1::12]:
        assert submit(page, "/tags/rename-me/edit", {"new_name": tag}) == 400
        probe.check(page, f"tag rename to {tag!r}")


def test_trash_and_its_messages_run_nothing(probe_as_writer, xss_site):
    page, probe = probe_as_writer
    for entry_id, title in xss_site.title_entries[:2]:
        probe.visit(page, f"/entries/{entry_id}/delete")
        with page.expect_navigation():
            page.get_by_role("button", name="Move to trash").click()
        probe.check(page, "trash, after moving an entry there")
        assert title in page.locator(".flash").inner_text()
    for _entry_id, title in xss_site.title_entries[:2]:
        probe.visit(page, "/trash")
        card = page.locator(".entry-card").filter(has=page.get_by_text(title, exact=True))
        with page.expect_navigation():
            card.get_by_role("button", name="Restore").click()
        probe.check(page, "entry, after restoring it")
        assert page.locator(".flash").inner_text() == f"Restored “{title}”."


def test_search_fields_run_nothing(probe_as_writer):
    page, probe = probe_as_writer
    batches = packed(PAYLOADS, 500, "\n")  # the page reads 500 characters of each field
    for i, q in enumerate(batches):
        args = {"q": q, "tag": batches[(i + 1) % len(batches)]}
        if i % 2:
            # Dates that are not dates: the form comes back with them and an error (400).
            args |= {"from": batches[i - 1], "to": batches[i]}
        # Otherwise the query runs (filtered by a tag made of payloads) and comes back.
        probe.visit(page, "/search?" + urlencode(args), f"search batch {i}")
        assert page.locator("#f-q").input_value() == as_input_value(q)
    # The entry list's tag filter, echoed in the heading and the title.
    for tag in [p for p in PAYLOADS if len(p) <= 64 and "\n" not in p][::40]:
        probe.visit(page, "/entries?" + urlencode({"tag": tag}), f"entries tagged {tag!r}")


def test_account_and_token_fields_run_nothing(probe_as_writer, xss_site):
    page, probe = probe_as_writer
    probe.visit(page, "/settings/tokens")
    assert page.locator("tbody tr").count() == TOKENS
    submit(page, "/settings/tokens", {"name": EVERYTHING, "scope": "read", "expires_at": ""})
    probe.check(page, "token form with every payload as its name")
    submit(page, "/settings/tokens", {"name": "x", "scope": EVERYTHING, "expires_at": EVERYTHING})
    probe.check(page, "token form with every payload as scope and expiry")

    probe.visit(page, "/settings")
    submit(page, "/settings/email", {"email": EVERYTHING, "current_password": "x"})
    probe.check(page, "email form with every payload")
    submit(page, "/settings/timezone", {"timezone": EVERYTHING})
    probe.check(page, "time-zone form with every payload")
    # An address the validator accepts, full of template syntax, shown on the settings page.
    odd = "{{1337*1000}}'${1337*1000}#{1337*1000}@example.com"
    assert submit(page, "/settings/email", {"email": odd, "current_password": PASSWORD}) == 200
    probe.check(page, "settings with an odd email address")
    assert odd in page.locator("main").inner_text()


def test_logged_out_forms_run_nothing(chromium, xss_site):
    xss_site.setup_probe.assert_clean()
    with probed_context(chromium, xss_site.server, TEMPLATE_RESULTS) as (context, probe):
        page = context.new_page()
        probe.visit(page, "/login")
        assert submit(page, "/login", {"login": EVERYTHING, "password": "x"}) == 400
        probe.check(page, "login form with every payload")
        for target in ('/"><script>alert(1)</script>', "/x?'><img src=x onerror=alert(2)>"):
            probe.visit(page, "/login?" + urlencode({"next": target}))
            assert page.locator("input[name=next]").input_value() == target
        register = f"/register?invite={xss_site.invite}"
        probe.visit(page, register)
        fields = {"username": EVERYTHING, "email": EVERYTHING, "invite": xss_site.invite}
        assert submit(page, register, {**fields, "password": "", "password_confirm": ""}) == 400
        probe.check(page, "register form with every payload")
        probe.assert_clean()
