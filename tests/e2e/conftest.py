"""Browser fixtures: Chromium, fresh servers, and a server with an account and some entries."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.e2e import browser
from tests.e2e.browser import create_entry, csrf, post_form, set_up_account
from tests.live_server import LiveServer

# The shared fixtures, defined in browser.py so that tests/security can use them too.
chromium = browser.chromium
migrated_sqlite = browser.migrated_sqlite
start_server = browser.start_server
fresh_server = browser.fresh_server

RICH_BODY = """\
Shipped the **importer** today. _Finally._

## What changed

| step | before | after |
|---|---|---|
| parse | 4.1 s | 0.6 s |
| index | 9.8 s | 1.2 s |

- [x] write the migration
- [x] review with Grace
- [ ] announce it

```python
def import_all(paths):
    return [parse(p) for p in paths]
```

> Ship small, ship often.

See [the docs](https://example.com/docs) and the footnote.[^1]

[^1]: Measured on 10,000 entries.
"""


@dataclass
class Site:
    """A running Daybook with one account (ada) and entries to look at."""

    server: LiveServer
    state: dict  # the logged-in browser's cookies, for new contexts
    entry_id: int
    trashed_id: int
    invite_path: str

    def pages(self) -> dict[str, str]:
        """Name → path of every main page a logged-in user sees."""
        return {
            "entries": "/entries",
            "entries-tagged": "/entries?tag=work",
            "entry": f"/entries/{self.entry_id}",
            "new-entry": "/entries/new",
            "edit-entry": f"/entries/{self.entry_id}/edit",
            "delete-entry": f"/entries/{self.entry_id}/delete",
            "search": "/search?q=importer",
            "tags": "/tags",
            "tag-edit": "/tags/work/edit",
            "tag-delete": "/tags/work/delete",
            "trash": "/trash",
            "settings": "/settings",
            "tokens": "/settings/tokens",
            "jobs": "/settings/jobs",
            "account-delete": "/settings/delete",
            "api-docs": "/api/docs",
            "not-found": "/entries/999999",
        }

    def public_pages(self) -> dict[str, str]:
        """Name → path of the pages someone who is not logged in sees."""
        return {
            "login": "/login",
            "register": self.invite_path,
            "not-found-anonymous": "/no-such-page",
        }


@pytest.fixture(scope="session")
def site(chromium, start_server) -> Site:
    """Daybook with invites on, an account, four entries (one in the trash) and a token."""
    server = start_server()
    context = chromium.new_context(base_url=server.url)
    try:
        set_up_account(context)
        token = csrf(context.request.get("/settings").text())
        entry_id = create_entry(
            context, "Shipped the importer", RICH_BODY, "work shipped project/daybook", token
        )
        create_entry(context, "Met Grace about the roadmap", "We agreed on Q3.", "1on1 work", token)
        create_entry(
            context, "Learned about FTS5 ranking", "bm25 weights matter.", "learned", token
        )
        trashed_id = create_entry(context, "Draft to throw away", "Not needed.", "", token)
        post_form(context, f"/entries/{trashed_id}/delete", {}, token=token)
        post_form(
            context, "/settings/tokens", {"name": "phone shortcut", "scope": "read"}, 200, token
        )
        invite_page = post_form(context, "/settings/invites", {}, 200, token).text()
        invite = re.search(
            r'<code class="break">https?://[^/]+(/register\?invite=[^<]+)</code>', invite_page
        )
        assert invite, invite_page
        state = context.storage_state()
    finally:
        context.close()
    return Site(server, state, entry_id, trashed_id, invite.group(1).replace("&amp;", "&"))
