"""Hostile input gets a clear 4xx or is handled: never a 5xx, never a minute-long request.

Routes come from the URL map (with the bodies test_access_matrix sends them): open redirects and
header injection through `next`; bodies and fields over their limits; NUL bytes and invalid
UTF-8 in every field, query string and JSON body; bidi overrides and zero-width characters; an
entry with 10,000 tags; huge search queries; deeply nested JSON.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from daybook.errors import ValidationError
from daybook.extensions import db
from daybook.models import ApiToken, Entry, LoginSession, Tag, User
from daybook.services import export
from tests.api.conftest import make_token
from tests.conftest import login
from tests.factories import PASSWORD, csrf_token_from, make_entry, make_user
from tests.security.test_access_matrix import EXPECTED, owned_objects, routes, url_for_rule
from tests.security.test_csrf_matrix import any_path, fingerprint

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SITE = "http://localhost/"
QUICK = 10.0  # seconds: generous for a loaded shared machine, far from "a minute-long request"


class Visitor:
    """A logged-in user with a page session and a bearer token, made again when a route ends it."""

    def __init__(self, app):
        self.app = app
        self._start()

    def _start(self) -> None:
        self.user = make_user()
        self.user_id = self.user.id
        self.bearer = make_token(self.user, name="visitor")
        self.client = self.app.test_client()
        login(self.client, self.user.username)

    def ready(self) -> Visitor:
        logins = db.session.scalar(
            sa.select(sa.func.count(LoginSession.id)).where(LoginSession.user_id == self.user_id)
        )
        bearer = db.session.scalar(
            sa.select(sa.func.count(ApiToken.id)).where(
                ApiToken.user_id == self.user_id,
                ApiToken.name == "visitor",
                ApiToken.revoked_at.is_(None),
            )
        )
        if not logins or not bearer:
            self._start()
        return self

    def send(self, method: str, path: str, *, form=None, json=None, raw=None, headers=None):
        """Send a request as this user: pages with the CSRF token, the API with the token."""
        headers = dict(headers or {})
        if path.startswith("/api/"):
            headers.setdefault("Authorization", f"Bearer {self.bearer}")
            if method == "PATCH" and path.startswith("/api/v1/entries/"):
                headers["If-Match"] = "*"
            if raw is not None:
                headers.setdefault("Content-Type", "application/json")
                return self.client.open(path, method=method, data=raw, headers=headers)
            return self.client.open(path, method=method, json=json, headers=headers)
        if method == "GET":
            return self.client.get(path, headers=headers)
        if raw is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            body = b"csrf_token=" + self.client.csrf.encode() + b"&" + raw
            return self.client.open(path, method=method, data=body, headers=headers)
        data = {"csrf_token": self.client.csrf, **(form or {})}
        return self.client.open(path, method=method, data=data, headers=headers)


@pytest.fixture
def visitor(app) -> Visitor:
    return Visitor(app)


def unsafe_routes(app):
    """(method, rule, expectation) of every state-changing route with a line in EXPECTED."""
    for (endpoint, method), rule in sorted(routes(app).items()):
        expect = EXPECTED.get((endpoint, method))
        if method in UNSAFE and expect is not None:
            yield method, rule, expect


def get_routes(app):
    for (endpoint, method), rule in sorted(routes(app).items()):
        expect = EXPECTED.get((endpoint, method))
        if method == "GET" and expect is not None:
            yield endpoint, rule, expect


def body_of(expect, username: str) -> dict:
    return {
        key: value.replace("{me}", username) if isinstance(value, str) else value
        for key, value in (expect.data or {}).items()
    }


def answered(response, what: str, failures: list[str], started: float) -> None:
    """Record a 5xx or a slow answer; close the response."""
    seconds = time.perf_counter() - started
    status = response.status_code
    response.close()
    if status >= 500:
        failures.append(f"{what}: {status}")
    if seconds > QUICK:
        failures.append(f"{what}: took {seconds:.1f} s")


def stored_text_with(character: str) -> list[str]:
    """Text a user can see again (entries, tags, tokens, accounts) that holds `character`."""
    found = []
    for model, columns in (
        (Entry, ("title", "body")),
        (Tag, ("name",)),
        (ApiToken, ("name",)),
        (User, ("username", "email", "timezone")),
    ):
        for column in columns:
            values = db.session.scalars(sa.select(getattr(model, column))).all()
            found += [f"{model.__name__}.{column}={v!r}" for v in values if v and character in v]
    return found


# -- open redirects and header injection through `next` -------------------------------------------

# tests/web/test_auth.py tries //evil.com, ///evil.com, /\\evil.com, " //evil.com", /\t/evil.com,
# evil.com, NUL and CRLF + Set-Cookie after a real login and expects /entries; these are more.
HOSTILE_NEXT = [
    "//evil.com/%2F..",
    "////evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "https:evil.com",
    "https:/evil.com",
    "http://evil.com",
    "HTTPS://evil.com",
    "%2F%2Fevil.com",
    "/%2F/evil.com",
    "/%5Cevil.com",
    "%2f%2fevil.com",
    "/%252F%252Fevil.com",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\n/evil.com",
    "/\r/evil.com",
    "/\x0b/evil.com",
    "/\x0c/evil.com",
    "\t//evil.com",
    "/\u3000/evil.com",
    "/\u2215evil.com",
    "/\uff0f/evil.com",
    "/.//evil.com",
    "/..//evil.com",
    "@evil.com",
    "/@evil.com",
    "/\r\nX-Injected: 1",
    "/%0d%0aX-Injected:%201",
    "/%250d%250aX-Injected:%201",
    "/\u560a\u560dX-Injected: 1",  # UTF-8 bytes that some servers cut to CR and LF
]


def as_a_browser_reads_it(location: str) -> tuple[str, str]:
    """Resolve a Location header the way a browser would: the (scheme, host) it leads to."""
    # WHATWG URL parsing drops leading/trailing C0 controls and spaces, removes tabs and
    # newlines anywhere, and reads a backslash as a slash in http(s) URLs.
    cleaned = re.sub(r"[\t\n\r]", "", re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", location))
    parts = urlsplit(urljoin(SITE + "login", cleaned.replace("\\", "/")))
    return parts.scheme, parts.netloc


def assert_stays_on_site(response, target: str) -> None:
    assert response.status_code in (200, 302), (target, response.status_code)
    names = {name.lower() for name in response.headers.keys()}
    assert "x-injected" not in names, (target, response.headers)
    assert "pwned" not in response.headers.get("Set-Cookie", ""), target
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, (target, name, value)
    if response.status_code == 302:
        location = response.headers["Location"]
        assert as_a_browser_reads_it(location) == ("http", "localhost"), (target, location)
        assert not location.lower().lstrip().startswith(("javascript:", "data:")), target


def test_next_never_leads_off_the_site(app, user, auth_client):
    # Logged in, /login redirects at once to `next` (the same check as after a login): as a
    # form field, and percent-encoded in the query string.
    for target in HOSTILE_NEXT:
        assert_stays_on_site(auth_client.form("/login", {"next": target}), target)
        assert_stays_on_site(auth_client.get(f"/login?next={quote(target, safe='')}"), target)
    # And once through a real login, for the form and the query string.
    for where in ("form", "query"):
        client = app.test_client()
        client.fetch_csrf("/login")
        query = f"?next={quote(HOSTILE_NEXT[0], safe='')}" if where == "query" else ""
        extra = {"next": HOSTILE_NEXT[0]} if where == "form" else {}
        form = {"login": "alice", "password": PASSWORD, **extra}
        response = client.form(f"/login{query}", form)
        assert response.status_code == 302 and response.headers["Location"] == "/entries"


def test_next_is_escaped_in_the_login_form(client, user):
    target = '/x"><script>alert(1)</script><input value="'
    page = client.get(f"/login?next={quote(target)}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert 'value="/x&#34;&gt;&lt;script&gt;' in page or "&lt;script&gt;" in page


# -- sizes ----------------------------------------------------------------------------------------


def test_oversized_bodies_are_413_on_every_state_changing_route(app, visitor):
    over = {
        False: b"body=" + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1024),  # pages
        True: b'{"body": "' + b"x" * (2 * 1024 * 1024 + 1024) + b'"}',  # the API
    }
    failures = []
    objects = owned_objects(visitor.user)  # nothing is written, so nothing is used up
    # Every rule that takes a body, with a line in EXPECTED or not yet: the size comes first.
    for (_endpoint, method), rule in sorted(routes(app).items()):
        if method not in UNSAFE:
            continue
        path = any_path(rule, objects)
        api = path.startswith("/api/")
        before = fingerprint()
        response = visitor.send(method, path, raw=over[api])
        if response.status_code != 413:
            failures.append(f"{method} {path}: {response.status_code}, wanted 413")
        elif api and response.mimetype != "application/problem+json":
            failures.append(f"{method} {path}: 413 as {response.mimetype}")
        elif not api and "larger than Daybook accepts" not in response.get_data(as_text=True):
            failures.append(f"{method} {path}: 413 without the friendly page")
        response.close()
        db.session.expire_all()
        if fingerprint() != before:
            failures.append(f"{method} {path}: an oversized body wrote to the database")
    assert not failures, "\n".join(failures)


LONG = "x" * 10_000


OVERSIZED_FIELDS = [
    ("/entries/new", {"title": "t" * 201}, "title"),
    ("/entries/new", {"title": "t", "tags": "t" * 65}, "tags"),
    ("/entries/new", {"title": "t", "occurred_at": LONG}, "occurred_at"),
    ("/settings/tokens", {"name": "n" * 101, "scope": "read"}, "name"),
    ("/settings/tokens", {"name": "n", "scope": LONG}, "scopes"),
    (
        "/settings/email",
        {"email": f"{LONG}@example.com", "current_password": PASSWORD},
        "email",
    ),
    ("/settings/timezone", {"timezone": LONG}, "timezone"),
    (
        "/settings/password",
        {"current_password": PASSWORD, "new_password": LONG, "new_password_confirm": LONG},
        "new_password",
    ),
    ("/tags/work/edit", {"new_name": LONG}, "new_name"),
]


def test_oversized_fields_are_400_with_the_form_and_nothing_written(app, auth_client, user):
    make_entry(user, title="Tagged", tags="work")
    for path, form, field in OVERSIZED_FIELDS:
        before = fingerprint()
        started = time.perf_counter()
        response = auth_client.form(path, form)
        assert time.perf_counter() - started < QUICK, field
        assert response.status_code == 400, (field, response.get_data(as_text=True)[:300])
        page = response.get_data(as_text=True)
        assert 'class="error"' in page or 'class="error-summary"' in page, field  # the form
        db.session.expire_all()
        assert fingerprint() == before, field


def test_an_oversized_title_over_the_api_is_422_naming_the_field(app, visitor):
    response = visitor.send("POST", "/api/v1/entries", json={"title": "t" * 201})
    assert response.status_code == 422
    assert "title" in response.get_json()["errors"]


def test_a_huge_login_and_password_are_refused_quickly(client, user):
    client.fetch_csrf("/login")
    for login_name, password in (("a" * 100_000, "x"), ("alice", "p" * 1_000_000)):
        started = time.perf_counter()
        response = client.form("/login", {"login": login_name, "password": password})
        assert response.status_code == 400
        assert time.perf_counter() - started < QUICK


# -- NUL bytes and invalid UTF-8 --------------------------------------------------------------------


def test_nul_bytes_in_every_field_of_every_form_and_json_body(app, visitor):
    failures = []
    objects, user = None, None
    for method, rule, expect in unsafe_routes(app):
        for field in expect.data or {}:
            if objects is None or visitor.ready().user is not user:
                user = visitor.user
                objects = owned_objects(user)
            path = url_for_rule(rule, expect, objects)
            body = body_of(expect, user.username)
            value = body[field]
            body[field] = (
                [f"{v}\x00" for v in value] if isinstance(value, list) else f"a\x00{value}"
            )
            api = path.startswith("/api/")
            started = time.perf_counter()
            if api:
                response = visitor.send(method, path, json=body)
            else:
                response = visitor.send(method, path, form=body)
            if response.status_code < 400:
                objects = None  # it was written: the next request gets new objects
            answered(response, f"{method} {path} with NUL in {field}", failures, started)
    failures += [f"stored a NUL: {s}" for s in stored_text_with("\x00")]
    assert not failures, "\n".join(failures)


HOSTILE_QUERY = {
    "q": "\x00' OR 1=1 --\u202e",
    "tag": "\x00",
    "page": "\x00",
    "next": "\x00//evil.com",
    "from": "\x00",
    "to": "9" * 400,
    "cursor": "\x00" * 300,
    "limit": "-1",
    "sort": "\x00",
    "invite": "\x00",
}


@pytest.mark.parametrize("encoding", ["nul", "invalid utf-8"])
def test_hostile_query_strings_on_every_get_route(app, visitor, encoding):
    failures = []
    if encoding == "nul":
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in HOSTILE_QUERY.items())
    else:
        query = "&".join(f"{k}=%FF%FE%C3%28%ED%A0%80" for k in HOSTILE_QUERY)
    objects = owned_objects(visitor.user)
    for endpoint, rule, expect in get_routes(app):
        path = url_for_rule(rule, expect, objects).split("?")[0]
        started = time.perf_counter()
        response = visitor.send("GET", f"{path}?{query}")
        answered(response, f"GET {path} ({endpoint}) with {encoding}", failures, started)
    assert not failures, "\n".join(failures)


HOSTILE_NAMES = ["%00", "%FF%FE", "a%00b", "..%2F..%2Fetc", "%E2%80%AE", "x" * 5000, "%C0%AF"]


def test_hostile_tag_names_in_paths(app, visitor):
    failures = []
    for name in HOSTILE_NAMES:
        for method, path in (
            ("GET", f"/tags/{name}/edit"),
            ("POST", f"/tags/{name}/edit"),
            ("POST", f"/tags/{name}/delete"),
            ("PATCH", f"/api/v1/tags/{name}"),
            ("DELETE", f"/api/v1/tags/{name}"),
        ):
            started = time.perf_counter()
            body = {"name": "x"} if method == "PATCH" else None
            response = visitor.ready().send(method, path, form={"new_name": "x"}, json=body)
            if response.status_code not in (404, 422):
                failures.append(f"{method} {path[:60]}: {response.status_code}, wanted 404")
            answered(response, f"{method} {path[:60]}", failures, started)
    assert not failures, "\n".join(failures)


def test_invalid_utf8_in_every_form_field(app, visitor):
    failures = []
    objects, user = None, None
    for method, rule, expect in unsafe_routes(app):
        if rule.rule.startswith("/api/"):
            continue
        for field in expect.data or {}:
            for bad in (b"%FF%FE%C3%28", b"\xff\xfe\xc3\x28\xed\xa0\x80"):
                if objects is None or visitor.ready().user is not user:
                    user = visitor.user
                    objects = owned_objects(user)
                path = url_for_rule(rule, expect, objects)
                others = {k: v for k, v in body_of(expect, user.username).items() if k != field}
                raw = b"&".join(
                    [f"{k}={quote(str(v))}".encode() for k, v in others.items()]
                    + [field.encode() + b"=" + bad]
                )
                started = time.perf_counter()
                response = visitor.send(method, path, raw=raw)
                if response.status_code < 400:
                    objects = None  # it was written: the next request gets new objects
                answered(response, f"{method} {path} with bad UTF-8 in {field}", failures, started)
    assert not failures, "\n".join(failures)


def test_invalid_utf8_in_every_json_body_is_400(app, visitor):
    failures = []
    objects = owned_objects(visitor.user)  # refused: nothing is used up
    for method, rule, expect in unsafe_routes(app):
        if not rule.rule.startswith("/api/") or expect.data is None:
            continue
        path = url_for_rule(rule, expect, objects)
        response = visitor.send(method, path, raw=b'{"title": "\xff\xfe\xc3\x28"}')
        if response.status_code != 400:
            failures.append(f"{method} {path}: {response.status_code}, wanted 400")
        response.close()
    assert not failures, "\n".join(failures)


# -- bidi overrides and zero-width characters -------------------------------------------------------

TRICKY = "Invoice \u202egnp.exe\u202c \u200bzero\u200dwidth\ufeff \u2066isolate\u2069"


def test_bidi_and_zero_width_characters_in_titles_are_kept_and_shown_as_text(auth_client, user):
    response = auth_client.form(
        "/entries/new", {"title": TRICKY, "body": TRICKY, "tags": "", "occurred_at": ""}
    )
    assert response.status_code == 302
    entry = db.session.scalar(sa.select(Entry).where(Entry.user_id == user.id))
    # Stored as typed: it is the user's own text. Shown as escaped text, never as markup.
    assert entry.title == TRICKY.strip() and entry.body == TRICKY
    for path in (f"/entries/{entry.id}", "/entries", f"/entries/{entry.id}/delete"):
        page = auth_client.get(path).get_data(as_text=True)
        assert TRICKY.strip() in page, path
    assert auth_client.get("/search?q=invoice").status_code == 200


INVISIBLE = ["\u202e", "\u200b", "\u200d", "\ufeff", "\u2066", "\u00ad"]


def test_bidi_and_zero_width_characters_are_not_part_of_tags_or_usernames(make_app, user):
    app = make_app(REGISTRATION="open")
    make_entry(user, tags="work")
    bearer = make_token(user)
    for character in INVISIBLE:
        client = app.test_client()
        client.fetch_csrf("/register")
        account = {"email": "m@example.com", "password": "a long new password 7"}
        account |= {"password_confirm": account["password"], "username": f"ali{character}ce"}
        assert client.form("/register", account).status_code == 400, repr(character)
        login(client, "alice")
        entry = {"title": "t", "tags": f"wo{character}rk", "occurred_at": ""}
        assert client.form("/entries/new", entry).status_code == 400, repr(character)
        rename = {"new_name": f"w{character}"}
        assert client.form("/tags/work/edit", rename).status_code == 400, repr(character)
        response = app.test_client().post(
            "/api/v1/entries",
            json={"title": "t", "tags": [f"wo{character}rk"]},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert response.status_code == 422, repr(character)
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
    assert db.session.scalars(sa.select(Tag.name)).all() == ["work"]


# -- many tags, huge queries, deep JSON ------------------------------------------------------------


def entries_and_tags() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count(Entry.id))),
        db.session.scalar(sa.select(sa.func.count(Tag.id))),
    )


def test_an_entry_with_ten_thousand_tags_is_refused_quickly(app, visitor):
    many = [f"tag{n}" for n in range(10_000)]
    attempts = [
        ("POST", "/entries/new", {"title": "t", "tags": " ".join(many), "occurred_at": ""}, None),
        ("POST", "/entries/new", {"title": "t", "tags": ",".join(many), "occurred_at": ""}, None),
        ("POST", "/api/v1/entries", None, {"title": "t", "tags": many}),
    ]
    for method, path, form, body in attempts:
        before = entries_and_tags()
        started = time.perf_counter()
        response = visitor.ready().send(method, path, form=form, json=body)
        assert time.perf_counter() - started < QUICK
        assert response.status_code in (400, 422), (path, response.status_code)
        assert entries_and_tags() == before


def test_ten_thousand_copies_of_one_tag_are_one_tag(app, visitor):
    response = visitor.send("POST", "/entries/new", form={"title": "t", "tags": "a " * 10_000})
    assert response.status_code == 302
    entry = db.session.scalar(sa.select(Entry).where(Entry.user_id == visitor.user_id))
    assert entry.tag_names == ["a"]


def test_huge_search_queries_are_answered_quickly(app, visitor):
    make_entry(visitor.user, title="needle", body="haystack")
    queries = [
        "needle " * 20_000,
        " ".join(f"w{n}*" for n in range(5_000)),
        '"' * 50_000,
        "-" * 50_000,
        "(" * 50_000,
        "\u202e" * 10_000,
        "*" * 50_000,
    ]
    for query in queries:
        for path in (f"/search?q={quote(query)}", f"/api/v1/entries?q={quote(query)}"):
            started = time.perf_counter()
            response = visitor.send("GET", path)
            assert time.perf_counter() - started < QUICK, path[:60]
            # Pages cut the query at 500 characters; the API says it is too long.
            assert response.status_code in (200, 422), (path[:60], response.status_code)
    huge = visitor.send("GET", f"/api/v1/search?q={'a' * 501}")
    assert huge.status_code == 422


DEEP_JSON = [
    b"[" * 100_000,
    b'{"a":' * 100_000,
    b"[" * 5_000 + b"]" * 5_000,
    b'{"title": ' + b"[" * 900 + b"]" * 900 + b"}",
    b'{"title": "x", "tags": ' + b"[" * 100_000 + b"}",
]


def test_deeply_nested_json_is_a_clear_4xx_on_every_api_write(app, visitor):
    failures = []
    owner_id, objects = visitor.user_id, owned_objects(visitor.user)
    for method, rule, expect in unsafe_routes(app):
        if not rule.rule.startswith("/api/"):
            continue
        for n, raw in enumerate(DEEP_JSON):
            if visitor.ready().user_id != owner_id:
                owner_id, objects = visitor.user_id, owned_objects(visitor.user)
            path = url_for_rule(rule, expect, objects)
            started = time.perf_counter()
            response = visitor.send(method, path, raw=raw)
            status = response.status_code
            # Routes that take no body may ignore it; those that take one must refuse it.
            if expect.data is not None and not 400 <= status < 500:
                failures.append(f"{method} {path} with deep JSON #{n}: {status}")
            if status < 400:
                objects = owned_objects(visitor.user)
            answered(response, f"{method} {path} with deep JSON #{n}", failures, started)
    assert not failures, "\n".join(failures)


def test_a_wide_json_body_is_refused_quickly(app, visitor):
    wide = "{" + ",".join(f'"k{n}": {n}' for n in range(30_000)) + "}"
    started = time.perf_counter()
    response = visitor.send("POST", "/api/v1/entries", raw=wide.encode())
    assert time.perf_counter() - started < QUICK
    assert response.status_code == 422
    # One line per unknown key would be a 1.3 MB answer to a 0.5 MB question.
    assert len(response.get_json()["errors"]) <= 50


def test_a_deeply_nested_export_file_is_a_validation_error():
    for raw in ("[" * 100_000, '{"format": "daybook-export", "entries": ' + "[" * 100_000):
        with pytest.raises(ValidationError) as caught:
            export.parse_export(raw)
        assert "file" in caught.value.fields


# -- cookies ------------------------------------------------------------------------------------------


FORGED_COOKIES = ["", "x" * 4000, "\x00", "%FF%FE", "..%2F", '"', "a" * 64 + ".sig", "é"]


def test_forged_session_and_remember_cookies_are_just_not_logged_in(app, user):
    for value in FORGED_COOKIES:
        for name in ("daybook_session", "daybook_remember"):
            client = app.test_client()
            client.set_cookie(name, value)
            for path in ("/entries", "/login", "/api/v1/me"):
                response = client.get(path)
                assert response.status_code in (200, 302, 401), (name, value, path)


def test_a_login_under_someone_elses_name_cannot_be_planted_by_a_cookie(app, user, other_user):
    # A made-up login token in the session store is worth nothing without its row.
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "not-a-real-login-token"
    assert client.get("/entries").status_code == 302
    assert client.get("/api/v1/me").status_code == 401
    assert csrf_token_from(client.get("/login").get_data(as_text=True))
