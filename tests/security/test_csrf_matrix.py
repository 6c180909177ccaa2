"""Every state-changing route refuses a request without this session's current CSRF token.

The routes come from the URL map: every POST/PUT/PATCH/DELETE rule outside /api/ (the pages),
and every such API rule that a browser session may call (all but the token logins, which take no
session). Each is sent with no token, with the token of another session of the same user and of
another user, and with tokens that went stale when the session rotated at logout and at login.
Each must be refused (a 400 page, or a 403 problem+json) with nothing written: row counts and a
hash of every table stay the same.

A valid token on the same requests succeeds: that is the owner's column of test_access_matrix.
"""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from daybook.api import PUBLIC_ENDPOINTS
from daybook.extensions import db
from tests.conftest import login
from tests.databases import SEARCH_TABLE
from tests.factories import csrf_token_from, make_user
from tests.security.test_access_matrix import EXPECTED, existing_tables, owned_objects, routes
from tests.security.test_access_matrix import url_for_rule as path_for

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PAGE_REFUSAL = "This form has expired or did not come from Daybook."
API_REFUSAL = "Calls from a browser session need the page's CSRF token in X-CSRFToken."
# Not application data: the session store is written whenever a session is.
UNHASHED = {"web_session"}


def state_changing(app) -> list[tuple[str, str, object]]:
    """(endpoint, method, rule) of every route a browser session can change state through."""
    found = []
    for (endpoint, method), rule in sorted(routes(app).items()):
        if method in UNSAFE and endpoint not in PUBLIC_ENDPOINTS:
            found.append((endpoint, method, rule))
    return found


def fingerprint() -> dict[str, tuple[int, str]]:
    """Row count and a hash of the rows of every table, and of the search index."""
    result = {}
    for table in existing_tables():
        if table.name not in UNHASHED:
            result[table.name] = _digest(db.session.execute(sa.select(table)).all())
    index = db.session.execute(sa.text(f"SELECT * FROM {SEARCH_TABLE}")).all()  # noqa: S608
    result[SEARCH_TABLE] = _digest(index)
    return result


def _digest(rows) -> tuple[int, str]:
    text = "\n".join(sorted(repr(tuple(row)) for row in rows))
    return len(rows), hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def carol(app):
    """A logged-in browser session, and CSRF tokens that are not its current one."""
    user = make_user("carol")
    client = app.test_client()
    before_login = client.fetch_csrf("/login")
    login(client, user.username)
    before_logout = client.csrf
    assert client.form("/logout").status_code == 302
    login(client, user.username)
    elsewhere, someone_else = app.test_client(), app.test_client()
    login(elsewhere, user.username)
    login(someone_else, make_user("dave").username)
    tokens = {
        "missing": None,
        "another session's": elsewhere.csrf,
        "another user's": someone_else.csrf,
        "from before logout": before_logout,
        "from before login": before_login,
    }
    assert len({client.csrf, *tokens.values()}) == len(tokens) + 1
    return user, client, tokens


def send(client, method: str, path: str, data: dict | None, token: str | None):
    if path.startswith("/api/"):
        headers = {"X-CSRFToken": token} if token is not None else {}
        if method == "PATCH" and path.startswith("/api/v1/entries/"):
            headers["If-Match"] = "*"
        return client.open(path, method=method, json=data, headers=headers)
    form = dict(data or {})
    if token is not None:
        form["csrf_token"] = token
    return client.open(path, method=method, data=form)


def refusal_problem(response, path: str) -> str | None:
    text = response.get_data(as_text=True)
    if path.startswith("/api/"):
        if response.status_code == 403 and response.mimetype == "application/problem+json":
            if response.get_json()["detail"] == API_REFUSAL:
                return None
    elif response.status_code == 400 and PAGE_REFUSAL in text:
        return None
    return f"{response.status_code} {text[:150]!r}"


def test_the_routes_under_test_cover_pages_and_the_api(app):
    endpoints = {endpoint for endpoint, _m, _r in state_changing(app)}
    assert {"web.login", "web.logout", "web.entry_new", "web.account_delete"} <= endpoints
    assert {"api.entry_create", "api.entry_delete", "api.token_create"} <= endpoints
    assert not endpoints & {"api.auth_token", "api.auth_refresh"}


def any_path(rule, objects: dict[str, object]) -> str:
    """A path for the rule: the owner's objects where known, else any value (the token check
    comes before the view, so the object need not exist)."""
    values = {arg: objects.get("live" if arg == "entry_id" else arg, "1") for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def test_state_changing_routes_refuse_a_bad_csrf_token(app, carol):
    user, client, tokens = carol
    failures = []
    objects = owned_objects(user)  # refused requests use nothing up
    for endpoint, method, rule in state_changing(app):
        # A route without a line in EXPECTED yet is still checked, with an empty body.
        expect = EXPECTED.get((endpoint, method))
        path = path_for(rule, expect, objects) if expect else any_path(rule, objects)
        data = {
            key: value.replace("{me}", user.username) if isinstance(value, str) else value
            for key, value in (expect.data or {} if expect else {}).items()
        }
        body = data if expect is None or expect.data is not None else None
        for kind, token in tokens.items():
            before = fingerprint()
            response = send(client, method, path, body, token)
            problem = refusal_problem(response, path)
            if problem:
                failures.append(f"{method} {path} with a {kind} token: {problem}")
            db.session.expire_all()
            if fingerprint() != before:
                failures.append(f"{method} {path} with a {kind} token wrote to the database")
    assert not failures, "\n".join(failures)
    # The session itself survived all of that and still works with its own token.
    assert client.form("/entries/new", {"title": "Still mine"}).status_code == 302


def test_a_fresh_page_token_works_where_the_stale_ones_did_not(app, carol):
    _user, client, tokens = carol
    page = client.get("/entries/new").get_data(as_text=True)
    assert csrf_token_from(page) not in tokens.values()
    response = client.post(
        "/entries/new", data={"title": "ok", "csrf_token": csrf_token_from(page)}
    )
    assert response.status_code == 302
