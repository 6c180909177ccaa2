"""A first day with Daybook, in Chromium, with JavaScript and without.

Set up the first account, write an entry (Markdown, a table, a task list, tags), preview and
save it, find it by search and by tag, edit it in two tabs and meet the stale-edit page, move it
to the trash and back, and log out. Then log in again and delete the account, which leaves the
server at first-run setup for the next test.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.browser import (
    PASSWORD,
    Watch,
    axe_violations,
    browser_context,
    no_horizontal_scroll,
    screenshot,
)

BODY = """\
Shipped the **importer** today.

| step | before | after |
|---|---|---|
| parse | 4.1 s | 0.6 s |
| index | 9.8 s | 1.2 s |

- [x] write the migration
- [x] review with Grace
- [ ] announce it
"""
TITLE = "Shipped the importer"
ENTRY_URL = re.compile(r"/entries/(\d+)$")


def check_setup_page(chromium, server, page: Page) -> None:
    """The setup page fits phone and desktop widths and passes axe (serious and critical)."""
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        scroll_width, client_width = no_horizontal_scroll(page)
        assert scroll_width <= client_width, f"/setup scrolls sideways at {width} px"
        screenshot(page, f"setup-{width}")
    # axe is added as an inline script, which the CSP refuses: this context bypasses it.
    context = chromium.new_context(base_url=server.url, bypass_csp=True)
    try:
        axe_page = context.new_page()
        axe_page.goto("/setup")
        violations = axe_violations(axe_page)
        assert not violations, "/setup:\n" + "\n".join(violations)
    finally:
        context.close()


def set_up(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/entries/new$"))
    expect(page.locator(".flash")).to_contain_text("Welcome to Daybook")


def write_and_preview(page: Page, javascript: bool) -> None:
    page.get_by_label("Title").fill(TITLE)
    page.locator("#f-body").fill(BODY)
    page.get_by_label("Tags").fill("work shipped project/daybook")
    if javascript:
        # Rendered in place by editor.js: no page load, nothing saved.
        with page.expect_response("**/entries/preview"):
            page.get_by_role("button", name="Preview").click()
        expect(page).to_have_url(re.compile(r"/entries/new$"))
    else:
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview")).to_be_visible()
        expect(page.get_by_label("Title")).to_have_value(TITLE)
        expect(page.locator("#f-body")).to_have_value(BODY)
    preview = page.locator("#preview-body")
    expect(preview.locator("table tbody tr")).to_have_count(2)
    expect(preview.locator("input[type=checkbox]")).to_have_count(3)
    expect(preview.locator("input[type=checkbox]:checked")).to_have_count(2)
    expect(preview.locator("strong")).to_have_text("importer")


def save(page: Page) -> int:
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(ENTRY_URL)
    expect(page.locator(".flash")).to_have_text("Entry saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".prose table tbody tr")).to_have_count(2)
    expect(page.locator(".prose input[type=checkbox]:checked")).to_have_count(2)
    expect(page.get_by_role("list", name="Tags").get_by_role("link")).to_have_text(
        ["#project/daybook", "#shipped", "#work"]
    )
    return int(ENTRY_URL.search(page.url).group(1))


def find_by_search_and_tag(page: Page, entry_id: int) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.get_by_label("Search your entries").fill("importer")
    page.get_by_label("Search your entries").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=importer"))
    result = page.locator(".results .entry-card")
    expect(result).to_have_count(1)
    expect(result.locator("mark").first).to_have_text(re.compile("importer", re.I))
    result.get_by_role("link", name=TITLE).click()
    expect(page).to_have_url(re.compile(rf"/entries/{entry_id}$"))

    page.get_by_role("list", name="Tags").get_by_role("link", name="#shipped").click()
    expect(page).to_have_url(re.compile(r"/entries\?tag=shipped$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Entries tagged #shipped")
    expect(page.locator(".entry-card h2")).to_have_text([TITLE])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tags").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="#shipped", exact=True))
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")


def edit_in_two_tabs(context: BrowserContext, watch: Watch, page: Page, entry_id: int) -> None:
    edit = f"/entries/{entry_id}/edit"
    page.goto(edit)
    other = context.new_page()
    other.goto(edit)

    other.get_by_label("Title").fill(f"{TITLE} (renamed in the other tab)")
    other.get_by_role("button", name="Save", exact=True).click()
    expect(other.get_by_role("heading", level=1)).to_have_text(
        f"{TITLE} (renamed in the other tab)"
    )
    other.close()

    watch.allow(409, edit)
    page.locator("#f-body").fill(BODY + "\nAdded in the first tab.\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This entry changed while you were editing"
    )
    expect(page.locator(".saved-title")).to_have_text(f"{TITLE} (renamed in the other tab)")
    expect(page.locator(".compare .prose").first).not_to_contain_text("Added in the first tab.")
    expect(page.locator("#f-body")).to_have_value(re.compile("Added in the first tab."))
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    screenshot(page, "conflict-1280")

    page.get_by_role("button", name="Save my version").click()
    expect(page).to_have_url(re.compile(rf"/entries/{entry_id}$"))
    expect(page.locator(".flash")).to_have_text("Entry saved.")
    expect(page.locator(".prose")).to_contain_text("Added in the first tab.")


def trash_and_restore(page: Page, entry_id: int) -> None:
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Move “{TITLE}” to the trash?")
    page.get_by_role("button", name="Move to trash").click()
    expect(page).to_have_url(re.compile(r"/trash$"))
    expect(page.locator(".flash")).to_have_text(f"Moved “{TITLE}” to the trash.")
    card = page.locator(".entry-card").filter(has_text=TITLE)
    card.get_by_role("button", name="Restore").click()
    expect(page).to_have_url(re.compile(rf"/entries/{entry_id}$"))
    expect(page.locator(".flash")).to_have_text(f"Restored “{TITLE}”.")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash")).to_have_text("You are logged out.")
    page.goto("/entries")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def log_in_and_delete_the_account(page: Page) -> None:
    """Come back through the login form and leave the server as it was found: no account."""
    page.get_by_label("Username or email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/entries$"))  # where `next` pointed
    expect(page.locator(".entry-card h2")).to_have_text([TITLE])
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account and all its entries").click()
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.locator(".flash")).to_have_text("Your account and all its entries were deleted.")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_first_day_with_daybook(chromium, fresh_server, javascript):
    with browser_context(chromium, fresh_server, java_script_enabled=javascript) as (
        context,
        watch,
    ):
        page = context.new_page()
        if javascript:
            page.goto("/setup")
            check_setup_page(chromium, fresh_server, page)
        set_up(page)
        write_and_preview(page, javascript)
        entry_id = save(page)
        find_by_search_and_tag(page, entry_id)
        edit_in_two_tabs(context, watch, page, entry_id)
        trash_and_restore(page, entry_id)
        log_out(page)
        log_in_and_delete_the_account(page)
