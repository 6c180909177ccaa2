"""Every main page at phone and desktop widths: no sideways scrolling, no browser errors.

Each page is loaded once with the CSP in force and looked at 1280 px and 360 px wide; the main
ones are saved as screenshots under test-results/ (name-width.png). A console error (a CSP
violation among them) or a failed request on any page fails the test.
"""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.browser import browser_context, no_horizontal_scroll, screenshot

WIDTHS = (1280, 360)
HEIGHT = 800
# The pages kept as pictures (the others are only measured). /setup is pictured by the
# first-run journey, on a Daybook of its own.
PICTURED = {
    "login",
    "entries",
    "entry",
    "new-entry",
    "search",
    "tags",
    "trash",
    "settings",
    "tokens",
    "api-docs",
}

# The elements that stick out past the right edge, to say what to fix.
OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth;
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > limit + 0.5)
    .slice(0, 5)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + (typeof el.className === "string" && el.className ? "." + el.className.split(" ").join(".") : "")
      + " right=" + Math.round(el.getBoundingClientRect().right));
}"""


def check_widths(page: Page, name: str, path: str, status: int, problems: list[str]) -> None:
    """Load the page, then measure (and picture) it at each width."""
    response = page.goto(path)
    assert response is not None and response.status == status, f"{path}: answered {status}"
    if path.startswith("/api/docs"):
        page.wait_for_selector(".swagger-ui .info")  # rendered by script after load
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        scroll_width, client_width = no_horizontal_scroll(page)
        if scroll_width > client_width:
            problems.append(
                f"{name} at {width} px scrolls sideways ({scroll_width} > {client_width}): "
                f"{page.evaluate(OVERFLOWING)}"
            )
        if name in PICTURED:
            screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})


def test_pages_for_visitors_fit_every_width(chromium, site):
    problems: list[str] = []
    with browser_context(chromium, site.server) as (context, watch):
        page = context.new_page()
        for name, path in site.public_pages().items():
            watch.allow(404, path)
            check_widths(page, name, path, 404 if name.startswith("not-found") else 200, problems)
    assert not problems, "\n".join(problems)


def test_pages_for_the_writer_fit_every_width(chromium, site):
    problems: list[str] = []
    with browser_context(chromium, site.server, storage_state=site.state) as (context, watch):
        page = context.new_page()
        for name, path in site.pages().items():
            watch.allow(404, path)
            check_widths(page, name, path, 404 if name.startswith("not-found") else 200, problems)
    assert not problems, "\n".join(problems)
