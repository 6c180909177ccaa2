"""axe-core on every main page, logged out and logged in, in light and dark colours.

No violation of serious or critical impact is allowed. axe is injected as an inline script,
which Daybook's CSP forbids, so these contexts are made with bypass_csp=True; the CSP itself is
exercised by the other browser tests, which fail on any console error.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser import KnownProblem, axe_violations, browser_context

# Problems whose fix is outside the templates and CSS, reported to be fixed where they are.
# Each is ignored only on its page and element; add one only with the reason and a way out.
KNOWN: tuple[KnownProblem, ...] = ()


def audit(page: Page, name: str, problems: list[str]) -> None:
    """Run axe on the page as it is: every rule in light colours, contrast again in dark."""
    passes = [("light", None), ("dark", ["color-contrast"])]
    if "/api/docs" in page.url:
        page.wait_for_selector(".swagger-ui .info")  # rendered by script after load
        passes = passes[:1]  # Swagger UI has no dark colours of its own
    for scheme, rules in passes:
        page.emulate_media(color_scheme=scheme)
        violations = axe_violations(page, rules=rules, known=KNOWN)
        if violations:
            problems.append(f"{name} ({page.url}, {scheme}):\n  " + "\n  ".join(violations))
    page.emulate_media(color_scheme="light")


def test_pages_for_visitors_pass_axe(chromium, site):
    problems: list[str] = []
    with browser_context(chromium, site.server, bypass_csp=True) as (context, watch):
        page = context.new_page()
        for name, path in site.public_pages().items():
            watch.allow(404, path)
            page.goto(path)
            audit(page, name, problems)

        # A form answered with errors: messages tied to their fields.
        watch.allow(400, "/login")
        page.goto("/login")
        page.get_by_label("Username or email").fill("ada")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".error").first).to_be_visible()
        audit(page, "login-failed", problems)
    assert not problems, "axe found serious or critical problems:\n" + "\n".join(problems)


def test_pages_for_the_writer_pass_axe(chromium, site):
    problems: list[str] = []
    with browser_context(chromium, site.server, bypass_csp=True, storage_state=site.state) as (
        context,
        watch,
    ):
        page = context.new_page()
        for name, path in site.pages().items():
            watch.allow(404, path)
            page.goto(path)
            audit(page, name, problems)

        # The editor with its preview open, and with a field in error.
        page.goto("/entries/new")
        page.locator("#f-body").fill("| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] to do\n")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview-body table")).to_be_visible()
        audit(page, "new-entry-preview", problems)
        watch.allow(400, "/entries/new")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#e-title")).to_be_visible()
        audit(page, "new-entry-error", problems)

        # The stale-edit page: save against a version that is no longer current.
        edit = f"/entries/{site.entry_id}/edit"
        watch.allow(409, edit)
        page.goto(edit)
        page.locator("input[name=version]").evaluate("(input) => { input.value = '0'; }")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("changed while"))
        audit(page, "conflict", problems)

        # A new token's secret, shown once.
        page.goto("/settings/tokens")
        page.get_by_label("Name").fill("axe check")
        page.get_by_role("button", name="Create token").click()
        expect(page.locator("#new-token")).to_be_visible()
        audit(page, "token-created", problems)
    assert not problems, "axe found serious or critical problems:\n" + "\n".join(problems)
