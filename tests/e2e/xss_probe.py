"""Seeing script run in the browser: a hook on alert() and friends, and a look at the DOM.

`Probe` is what tests/security/test_xss_browser.py uses on every page it loads: did a payload
call alert/confirm/prompt/print or set window.__xss, is there a frame, and is anything left in
the parsed DOM that could run script or leave the site (handlers, javascript:/data:/vbscript:
URLs as the browser itself reads them, foreign scripts, style, base, meta refresh and the like)?
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page

from tests.e2e.browser import browser_context
from tests.live_server import LiveServer

HOOK = """(() => {
  const report = (how, args) => {
    const note = how + "(" + Array.from(args).map(String).join(",") + ")";
    window.__xssHits = (window.__xssHits || []).concat([note]);
    try { window.top.__xssHits = (window.top.__xssHits || []).concat([note]); } catch (e) {}
    console.log("XSS-FIRED " + note + " in " + location.href);
  };
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = function () { report(name, arguments); };
  }
})();"""

# Everything in the page that could run script or leave the site, as the browser parsed it;
# whether a payload ran (the hook's record, window.__xss); and text that must never show.
INSPECT = """(leaks) => {
  const bad = [];
  if (window.__xss !== undefined) bad.push("window.__xss = " + String(window.__xss));
  for (const hit of window.__xssHits || []) bad.push("called " + hit);
  const html = document.documentElement.outerHTML;
  for (const leak of leaks) if (html.includes(leak)) bad.push(leak + " is in the page");
  const show = (el) => el.outerHTML.slice(0, 160);
  const never = new Set(["iframe", "frame", "frameset", "object", "embed", "applet", "portal",
    "base", "style", "svg", "math", "template", "noscript", "xmp", "isindex", "keygen",
    "video", "audio", "source", "marquee", "bgsound", "area", "map"]);
  const urls = new Set(["href", "src", "action", "xlink:href", "cite", "longdesc"]);
  const never_attrs = new Set(["style", "srcset", "srcdoc", "formaction", "ping", "background",
    "dynsrc", "lowsrc", "code", "codebase", "archive", "data", "poster", "form"]);
  const sameOrigin = (value) => {
    try { return new URL(value, document.baseURI).origin === location.origin; }
    catch (e) { return false; }
  };
  for (const el of document.querySelectorAll("*")) {
    const tag = el.localName;
    if (never.has(tag)) bad.push("element: " + show(el));
    if (tag === "script" && !(el.src && sameOrigin(el.src)
        && new URL(el.src).pathname.startsWith("/static/") && !el.textContent.trim())) {
      bad.push("script: " + show(el));
    }
    if (tag === "meta" && el.hasAttribute("http-equiv")) bad.push("meta: " + show(el));
    if (tag === "link" && !sameOrigin(el.href)) bad.push("link: " + show(el));
    if (tag === "form" && !sameOrigin(el.action)) bad.push("form: " + show(el));
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) bad.push("handler " + name + ": " + show(el));
      else if (never_attrs.has(name)) bad.push(name + " attribute: " + show(el));
      else if (urls.has(name)) {
        let scheme;
        try { scheme = new URL(attr.value, document.baseURI).protocol; } catch (e) { continue; }
        const image = tag === "img" && name === "src"
          && /^\\s*data:image\\/(png|gif|jpeg|webp|avif)[;,]/i.test(attr.value);
        if (!["http:", "https:", "mailto:"].includes(scheme) && !image) {
          bad.push(name + " with " + scheme + " URL: " + show(el));
        }
      }
    }
  }
  return bad;
}"""


@dataclass
class Probe:
    """What a context's pages did that they should not have; check(page) after each load."""

    server: LiveServer
    leaks: tuple[str, ...] = ()  # text that must never be in a page (what templates would print)
    problems: list[str] = field(default_factory=list)
    pages: int = 0

    def attach(self, context: BrowserContext) -> None:
        context.add_init_script(HOOK)
        context.on("dialog", self._dialog)
        context.on("console", self._console)

    def _dialog(self, dialog) -> None:
        if dialog.type == "beforeunload":  # the editor's "leave with unsaved text?"
            dialog.accept()
            return
        self.problems.append(f"{dialog.type} dialog: {dialog.message!r}")
        dialog.dismiss()

    def _console(self, message) -> None:
        if message.text.startswith("XSS-FIRED"):
            self.problems.append(message.text)

    def check(self, page: Page, where: str) -> None:
        """Record everything wrong with the page now in front of the browser."""
        self.pages += 1
        page.wait_for_load_state("load")
        # One more frame, for handlers that fire just after load (autofocus, animations).
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r)))")
        if not page.url.startswith(self.server.url):
            self.problems.append(f"{where}: the page went to {page.url}")
            return
        if len(page.frames) > 1:
            self.problems.append(f"{where}: frames {[f.url for f in page.frames[1:]]}")
        leaks = [*self.leaks, self.server.env["DAYBOOK_SECRET_KEY"]]
        self.problems.extend(f"{where}: {bad}" for bad in page.evaluate(INSPECT, leaks))

    def visit(self, page: Page, path: str, where: str | None = None) -> None:
        response = page.goto(path)
        status = response.status if response else None
        if status is None or status >= 500:
            self.problems.append(f"{where or path}: answered {status}")
        self.check(page, where or path)

    def assert_clean(self) -> None:
        assert self.pages, "no page was checked"
        assert not self.problems, f"{len(self.problems)} problems:\n" + "\n".join(self.problems)


@contextmanager
def probed_context(
    browser: Browser, server: LiveServer, leaks: tuple[str, ...] = (), **options
) -> Iterator[tuple[BrowserContext, Probe]]:
    """A context whose pages are probed, with the CSP bypassed: escaping and sanitising, the
    first line of defence, are under test, not the CSP behind them.

    Not watched for console errors or failed requests: error pages and payload URLs such as
    src=x are what these tests are made of.
    """
    with browser_context(browser, server, watched=False, bypass_csp=True, **options) as (
        context,
        _watch,
    ):
        probe = Probe(server, leaks)
        probe.attach(context)
        yield context, probe


def submit(page: Page, action: str, fields: dict[str, str]) -> int:
    """POST a form built in the page (values kept exactly, CSRF token added); return the status."""
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([action, fields]) => {
              const form = document.createElement("form");
              form.method = "post";
              form.action = action;
              const token = document.querySelector('meta[name="csrf-token"]').content;
              for (const [name, value] of Object.entries({ csrf_token: token, ...fields })) {
                const input = document.createElement("textarea");
                input.name = name;
                input.value = value;
                form.append(input);
              }
              document.body.append(form);
              HTMLFormElement.prototype.submit.call(form);
            }""",
            [action, fields],
        )
    return navigation.value.status if navigation.value else 0
