"""The first-day journey with the keyboard alone: Tab, Enter and typing, never a click.

Every element Tab lands on must show where the focus is (an outline or a box shadow) and be
on screen.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser import PASSWORD, browser_context

FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim();
  return {
    name: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${text.slice(0, 40)}"`,
    text: text,
    // The calendar button inside a date field: the browser draws its ring, out of CSS's reach.
    nativePart: document.hasFocus() && !el.matches(":focus"),
    visible: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
      || style.boxShadow !== "none",
    onScreen: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
      && box.left < window.innerWidth && box.top < window.innerHeight,
  };
}"""


def focused(page: Page) -> dict | None:
    """Describe the focused element, asserting that its focus can be seen."""
    focus = page.evaluate(FOCUS)
    if focus is not None:
        if focus["nativePart"]:
            return focus
        assert focus["visible"], f"{focus['name']} has no visible focus on {page.url}"
        assert focus["onScreen"], f"{focus['name']} is focused but off screen on {page.url}"
    return focus


def autofocused(page: Page, element_id: str) -> dict | None:
    """Describe the focused element once the page's `autofocus` has moved focus to `element_id`.

    Chromium applies autofocus when it next renders, which can come after the load event that
    navigation waits for: asked at once, a loaded machine now and then finds no focus yet.
    """
    page.wait_for_function(f"() => document.activeElement?.id === {element_id!r}")
    return focused(page)


def tab_to(page: Page, *, text: str | None = None, selector: str | None = None) -> None:
    """Press Tab until the focus is on the element with this text or matching this selector."""
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focus = focused(page)
        if focus is None:
            continue
        seen.append(focus["name"])
        if text is not None and focus["text"] == text:
            return
        if selector is not None and page.evaluate(
            "(s) => document.activeElement.matches(s)", selector
        ):
            return
    raise AssertionError(f"Tab never reached {text or selector} on {page.url}; went {seen}")


def activate(page: Page, *, text: str | None = None, selector: str | None = None) -> None:
    """Tab to a link or button and press Enter, waiting for the page it leads to."""
    tab_to(page, text=text, selector=selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def type_into(page: Page, selector: str, value: str) -> None:
    tab_to(page, selector=selector)
    page.keyboard.type(value)


def test_first_day_by_keyboard(chromium, fresh_server):
    with browser_context(chromium, fresh_server) as (context, _watch):
        page = context.new_page()
        page.goto("/")

        # Setup: the username field has the focus from the start.
        assert autofocused(page, "f-username")["name"].startswith("input#f-username")
        page.keyboard.type("kai")
        type_into(page, "#f-email", "kai@example.com")
        type_into(page, "#f-password", PASSWORD)
        type_into(page, "#f-password_confirm", PASSWORD)
        activate(page, text="Create account")
        expect(page).to_have_url(re.compile(r"/entries/new$"))

        # A new entry: the title has the focus; Tab on through the body, tags and date to Save.
        assert autofocused(page, "f-title")["name"].startswith("input#f-title")
        page.keyboard.type("Paired on the parser")
        type_into(page, "#f-body", "We paired for two hours.\n\n- [x] fixed the lexer\n")
        type_into(page, "#f-tags", "pairing work")
        activate(page, text="Save")
        expect(page.locator(".flash")).to_have_text("Entry saved.")
        expect(page.get_by_role("heading", level=1)).to_have_text("Paired on the parser")

        # The skip link is the first stop on a page and takes the focus to the content.
        activate(page, text="Entries")
        expect(page).to_have_url(re.compile(r"/entries$"))
        page.keyboard.press("Tab")
        assert focused(page)["text"] == "Skip to content"
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.activeElement.id === 'main'")
        page.keyboard.press("Tab")
        assert page.evaluate(
            "() => document.querySelector('main').contains(document.activeElement)"
        )
        activate(page, text="Paired on the parser")

        # Edit: to the end of the body, add a line, save with Ctrl+Enter.
        activate(page, text="Edit")
        tab_to(page, selector="#f-body")
        page.keyboard.press("ControlOrMeta+End")
        page.keyboard.type("Then we wrote the tests.\n")
        with page.expect_navigation():
            page.keyboard.press("ControlOrMeta+Enter")
        expect(page.locator(".flash")).to_have_text("Entry saved.")
        expect(page.locator(".prose")).to_contain_text("Then we wrote the tests.")

        # Search, and open the hit.
        activate(page, text="Search")
        assert autofocused(page, "f-q")["name"].startswith("input#f-q")
        page.keyboard.type("tests")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.locator(".results .entry-card")).to_have_count(1)
        activate(page, text="Paired on the parser")
        expect(page.get_by_role("heading", level=1)).to_have_text("Paired on the parser")

        # Trash and restore.
        activate(page, text="Delete…")
        activate(page, text="Move to trash")
        expect(page).to_have_url(re.compile(r"/trash$"))
        activate(page, text="Restore")
        expect(page.locator(".flash")).to_have_text("Restored “Paired on the parser”.")

        # Log out, log in again, and delete the account (the server is then as it was).
        activate(page, text="Log out")
        expect(page.locator(".flash")).to_have_text("You are logged out.")
        assert autofocused(page, "f-login")["name"].startswith("input#f-login")
        page.keyboard.type("kai")
        type_into(page, "#f-password", PASSWORD)
        activate(page, text="Log in")
        expect(page).to_have_url(re.compile(r"/entries$"))
        activate(page, text="Settings")
        activate(page, text="Delete my account…")
        type_into(page, "#f-current_password", PASSWORD)
        activate(page, text="Delete my account and all its entries")
        expect(page).to_have_url(re.compile(r"/setup$"))
