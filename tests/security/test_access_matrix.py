"""Who may do what: every route and method × {anonymous, owner, other user}, from the URL map.

EXPECTED holds one line per (endpoint, method). A rule in `app.url_map` without a line fails
`test_every_route_has_an_expectation`, so a new route forces an explicit decision here. URL
arguments are filled with objects the owner owns (see `owned_objects`); a new kind of argument
(`job_id`, …) fails with a message saying where to add it.

Pages answer anonymous visitors with a redirect to the login page, the API with a 401
problem+json. Someone else's object is a 404, never a 403 (which would confirm it exists), and a
write to it changes nothing the owner owns.

The same line (its body and the owner's status) also enrolls the route in test_csrf_matrix and
test_hostile_input.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.jobs import exports
from daybook.models import ApiToken, Entry, LoginSession, User, entry_tag
from daybook.services import entries, tokens
from tests.api.conftest import make_token
from tests.conftest import DaybookClient, login
from tests.databases import SEARCH_ID, SEARCH_TABLE
from tests.factories import PASSWORD, csrf_token_from, make_entry, make_user

LOGIN = "login"  # a page's answer to anonymous: 302 to /login?next=<the page>
NEW_PASSWORD = "a brand new passphrase 42"
SECRET = "owner-secret-quokka"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Expect:
    """The status each caller gets, and what to send (`{me}` is the caller's username)."""

    anonymous: int | str
    owner: int
    other: int
    data: dict | None = None
    query: str = ""
    entry: str = "live"  # which of the owner's entries <entry_id> names: "live" or "trashed"
    headers: dict[str, str] = field(default_factory=dict)


ENTRY_FORM = {"title": "Edited", "body": "b", "tags": "x", "occurred_at": "", "version": "1"}
ACCOUNT = {"username": "newbie", "email": "n@example.com", "password": NEW_PASSWORD}
ACCOUNT |= {"password_confirm": NEW_PASSWORD}
PASSWORD_FORM = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
PASSWORD_FORM |= {"new_password_confirm": NEW_PASSWORD}

# fmt: off
EXPECTED: dict[tuple[str, str], Expect] = {
    # -- pages -----------------------------------------------------------------------------------
    ("web.index", "GET"): Expect(302, 302, 302),
    ("web.setup", "GET"): Expect(404, 404, 404),  # gone once an account exists
    ("web.setup", "POST"): Expect(404, 404, 404, ACCOUNT),
    ("web.register", "GET"): Expect(404, 404, 404),  # registration is closed by default
    ("web.register", "POST"): Expect(404, 404, 404, ACCOUNT),
    ("web.login", "GET"): Expect(200, 302, 302),
    ("web.login", "POST"): Expect(400, 302, 302, {"login": "{me}", "password": PASSWORD}),
    ("web.logout", "POST"): Expect(302, 302, 302),
    ("web.entry_list", "GET"): Expect(LOGIN, 200, 200),
    ("web.entry_new", "GET"): Expect(LOGIN, 200, 200),
    ("web.entry_new", "POST"): Expect(LOGIN, 302, 302, ENTRY_FORM),
    ("web.entry_preview", "POST"): Expect(LOGIN, 200, 200, {"body": "*x*"}),
    ("web.entry_detail", "GET"): Expect(LOGIN, 200, 404),
    ("web.entry_edit", "GET"): Expect(LOGIN, 200, 404),
    ("web.entry_edit", "POST"): Expect(LOGIN, 302, 404, ENTRY_FORM),
    ("web.entry_delete", "GET"): Expect(LOGIN, 200, 404),
    ("web.entry_delete", "POST"): Expect(LOGIN, 302, 404),
    ("web.entry_restore", "POST"): Expect(LOGIN, 302, 404, entry="trashed"),
    ("web.entry_purge", "POST"): Expect(LOGIN, 302, 404, entry="trashed"),
    ("web.trash", "GET"): Expect(LOGIN, 200, 200),
    ("web.search_page", "GET"): Expect(LOGIN, 200, 200, query="q=quokka"),
    ("web.tag_list", "GET"): Expect(LOGIN, 200, 200),
    ("web.tag_edit", "GET"): Expect(LOGIN, 200, 404),
    ("web.tag_edit", "POST"): Expect(LOGIN, 302, 404, {"new_name": "renamed"}),
    ("web.tag_delete", "GET"): Expect(LOGIN, 200, 404),
    ("web.tag_delete", "POST"): Expect(LOGIN, 302, 404),
    ("web.settings", "GET"): Expect(LOGIN, 200, 200),
    ("web.settings_jobs", "GET"): Expect(LOGIN, 200, 200),
    ("web.settings_export", "POST"): Expect(LOGIN, 302, 302, {"format": "json"}),
    ("web.settings_export_download", "GET"): Expect(LOGIN, 200, 404),
    ("web.settings_password", "POST"): Expect(LOGIN, 302, 302, PASSWORD_FORM),
    ("web.settings_email", "POST"): Expect(
        LOGIN, 302, 302, {"email": "{me}@new.example.com", "current_password": PASSWORD}
    ),
    ("web.settings_timezone", "POST"): Expect(LOGIN, 302, 302, {"timezone": "Europe/Paris"}),
    ("web.invite_create", "POST"): Expect(LOGIN, 404, 404),  # admins only, invite mode only
    ("web.account_delete", "GET"): Expect(LOGIN, 200, 200),
    ("web.account_delete", "POST"): Expect(LOGIN, 302, 302, {"current_password": PASSWORD}),
    ("web.token_list", "GET"): Expect(LOGIN, 200, 200),
    ("web.token_create", "POST"): Expect(LOGIN, 200, 200, {"name": "t", "scope": "read"}),
    ("web.token_revoke", "POST"): Expect(LOGIN, 302, 404),
    # -- public ----------------------------------------------------------------------------------
    ("static", "GET"): Expect(200, 200, 200),
    ("health.healthz", "GET"): Expect(200, 200, 200),
    ("health.readyz", "GET"): Expect(200, 200, 200),
    ("api_docs", "GET"): Expect(200, 200, 200),
    ("api_openapi_json", "GET"): Expect(200, 200, 200),
    # -- API: owner and other user send their own bearer token ------------------------------------
    ("api.auth_token", "POST"): Expect(401, 200, 200, {"username": "{me}", "password": PASSWORD}),
    ("api.auth_refresh", "POST"): Expect(401, 401, 401, {"refresh_token": "not-a-token"}),
    ("api.auth_logout", "POST"): Expect(401, 204, 204, {}),
    ("api.me", "GET"): Expect(401, 200, 200),
    ("api.entry_list", "GET"): Expect(401, 200, 200),
    ("api.entry_create", "POST"): Expect(401, 201, 201, {"title": "x"}),
    ("api.entry_get", "GET"): Expect(401, 200, 404),
    ("api.entry_update", "PATCH"): Expect(401, 200, 404, {"title": "x"}, headers={"If-Match": "*"}),
    ("api.entry_delete", "DELETE"): Expect(401, 204, 404),
    ("api.entry_restore", "POST"): Expect(401, 200, 404, entry="trashed"),
    ("api.entry_preview", "POST"): Expect(401, 200, 200, {"body": "*x*"}),
    ("api.trash_list", "GET"): Expect(401, 200, 200),
    ("api.trash_purge", "DELETE"): Expect(401, 204, 404, entry="trashed"),
    ("api.search_list", "GET"): Expect(401, 200, 200, query="q=quokka"),
    ("api.tag_list", "GET"): Expect(401, 200, 200),
    ("api.tag_update", "PATCH"): Expect(401, 200, 404, {"name": "renamed"}),
    ("api.tag_delete", "DELETE"): Expect(401, 204, 404),
    ("api.token_list", "GET"): Expect(401, 200, 200),
    ("api.token_create", "POST"): Expect(401, 201, 201, {"name": "t", "scopes": ["read"]}),
    ("api.token_delete", "DELETE"): Expect(401, 204, 404),
}
# fmt: on
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app) -> dict[tuple[str, str], object]:
    """Every (endpoint, method) the app answers, with its rule."""
    found = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - IGNORED_METHODS):
            found[(rule.endpoint, method)] = rule
    return found


def test_every_route_has_an_expectation(app):
    found = routes(app)
    missing = sorted(set(found) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(found))
    lines = "\n".join(
        f'    ("{e}", "{m}"): Expect(anonymous, owner, other),  # {found[(e, m)].rule}'
        for e, m in missing
    )
    assert not missing, f"Decide who may use these routes; add to EXPECTED:\n{lines}"
    assert not stale, f"EXPECTED names routes that no longer exist: {stale}"


# -- the owner's objects and everything they own ----------------------------------------------


@dataclass
class World:
    """The owner and the other user, each with a bearer token and (for pages) a logged-in client."""

    owner: User
    other: User
    tokens: dict[str, str]
    clients: dict[str, DaybookClient] = field(default_factory=dict)
    ids: tuple[int, int] = (0, 0)

    @classmethod
    def build(cls, app) -> World:
        owner = make_user(f"owner{next(_ids)}")
        other = make_user(f"other{next(_ids)}")
        make_entry(other, title="Other's own", body="nothing of the owner's", tags="mine")
        tokens = {"owner": make_token(owner, name="owner's"), "other": make_token(other)}
        world = cls(owner, other, tokens, ids=(owner.id, other.id))
        for who, user in (("owner", owner), ("other", other)):
            world.clients[who] = app.test_client()
            login(world.clients[who], user.username)
        return world

    def user(self, who: str) -> User | None:
        return {"owner": self.owner, "other": self.other}.get(who)

    def alive(self) -> bool:
        """Tell whether both logins and both bearer tokens still work (a route may end them)."""
        ids = self.ids
        logins = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(LoginSession.user_id))).where(
                LoginSession.user_id.in_(ids)
            )
        )
        bearers = db.session.scalar(
            sa.select(sa.func.count(ApiToken.id)).where(
                ApiToken.user_id.in_(ids), ApiToken.revoked_at.is_(None), ApiToken.name != "victim"
            )
        )
        return logins == 2 and bearers == 2


def _live(owner: User) -> int:
    return make_entry(owner, title=f"Live {SECRET}", body=SECRET, tags="work").id


def _trashed(owner: User) -> int:
    entry = make_entry(owner, title=f"Trashed {SECRET}", body=SECRET, tags="work")
    entries.trash_entry(owner, entry.id)
    return entry.id


def _tag(owner: User) -> str:
    name = f"work{next(_ids)}"  # its own name, so that deleting it leaves other tags alone
    make_entry(owner, title=f"Tagged {SECRET}", body=SECRET, tags=name)
    return name


def _token(owner: User) -> int:
    return tokens.create_token(owner, name="victim", scopes=["read"])[0].id


def _export(owner: User) -> int:
    return exports.request_export(owner, "json")  # tests run jobs at once: a finished export


# The owner's objects by URL argument (entries by `Expect.entry`), and how to make one. A route
# with a new kind of argument needs a line here, named as the argument: "job_id", say, making
# one of the owner's finished exports.
OBJECTS = {
    "live": _live,
    "trashed": _trashed,
    "name": _tag,
    "token_id": _token,
    "job_id": _export,
    "filename": lambda _owner: "css/daybook.css",
}


def owned_objects(owner: User, kinds=None) -> dict[str, object]:
    """Make an object of the owner's of each kind (or of the kinds given), by kind."""
    return {kind: OBJECTS[kind](owner) for kind in (OBJECTS if kinds is None else kinds)}


def kinds_for(rule, expect: Expect) -> dict[str, str]:
    """The kind of object each of the rule's URL arguments names."""
    return {arg: expect.entry if arg == "entry_id" else arg for arg in sorted(rule.arguments)}


def url_for_rule(rule, expect: Expect, objects: dict[str, object]) -> str:
    """The rule's path with the owner's objects in it (and the expectation's query string)."""
    values = {}
    for argument, kind in kinds_for(rule, expect).items():
        assert kind in objects, (
            f"No value for <{argument}> in {rule.rule}: add a way to make one of the owner's "
            "to OBJECTS in test_access_matrix.py, so the matrix can try it."
        )
        values[argument] = objects[kind]
    path = rule.build(values, append_unknown=False)[1]
    return f"{path}?{expect.query}" if expect.query else path


def owner_state(user_id: int, tables: list[sa.Table]) -> list:
    """Every row the owner owns in these tables, plus their entries' search-index rows."""
    state = []
    owned_entries = sa.select(Entry.id).where(Entry.user_id == user_id)
    for table in tables:
        if table.name == "user":
            where = table.c.id == user_id
        elif "user_id" in table.c:
            where = table.c.user_id == user_id
        elif table is entry_tag:
            where = entry_tag.c.entry_id.in_(owned_entries)
        else:
            continue
        rows = db.session.execute(sa.select(table).where(where)).all()
        state.append((table.name, sorted(repr(tuple(r)) for r in rows)))
    ids = set(db.session.scalars(owned_entries))
    index = db.session.execute(
        sa.text(f"SELECT {SEARCH_ID}, title, body, tags FROM {SEARCH_TABLE}")  # noqa: S608
    ).all()
    state.append(("index", sorted(repr(tuple(r)) for r in index if r[0] in ids)))
    return state


def existing_tables() -> list[sa.Table]:
    """The tables of the models that the database under test has (migrations may lag)."""
    existing = set(sa.inspect(db.engine).get_table_names())
    return [t for t in db.metadata.sorted_tables if t.name in existing]


def call(app, world: World, who: str, method: str, path: str, expect: Expect):
    me = world.user(who)
    username = me.username if me else "nobody"
    data = {
        key: value.replace("{me}", username) if isinstance(value, str) else value
        for key, value in (expect.data or {}).items()
    }
    if path.startswith("/api/v1/"):
        headers = dict(expect.headers)
        if me is not None:
            headers["Authorization"] = f"Bearer {world.tokens[who]}"
        body = data if expect.data is not None else None
        return app.test_client().open(path, method=method, json=body, headers=headers)
    if me is not None:
        client = world.clients[who]
        token = client.csrf
    else:
        client = app.test_client()
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
    if method == "GET":
        return client.get(path)
    return client.open(path, method=method, data={"csrf_token": token, **data})


def mismatch(response, wanted: int | str, path: str) -> str | None:
    """Describe how an answer differs from the expected one, or None when it matches."""
    status = response.status_code
    if wanted == LOGIN:
        location = response.headers.get("Location", "")
        if status == 302 and location.startswith("/login?next="):
            return None
        return f"{status} {location!r}, wanted a redirect to /login?next="
    if status != wanted:
        return f"{status}, wanted {wanted}: {response.get_data(as_text=True)[:120]!r}"
    if path.startswith("/api/v1/") and status >= 400:
        if response.mimetype != "application/problem+json":
            return f"{status} as {response.mimetype}, wanted application/problem+json"
    return None


@pytest.mark.parametrize("who", ["anonymous", "owner", "other"])
def test_access_matrix(app, who):
    tables = existing_tables()
    world, kept = World.build(app), {}
    failures = []
    for (endpoint, method), rule in sorted(routes(app).items()):
        expect = EXPECTED.get((endpoint, method))
        if expect is None:
            continue  # test_every_route_has_an_expectation names it
        if not world.alive():
            world, kept = World.build(app), {}
        kinds = [kind for kind in kinds_for(rule, expect).values() if kind in OBJECTS]
        if method == "GET":  # reads use nothing up: keep their objects for the next read
            kept |= owned_objects(world.owner, [kind for kind in kinds if kind not in kept])
            objects = kept
        else:
            objects = owned_objects(world.owner, kinds)
        path = url_for_rule(rule, expect, objects)
        before = owner_state(world.ids[0], tables) if who != "owner" else None
        response = call(app, world, who, method, path, expect)
        text = response.get_data(as_text=True)
        response.close()
        problem = mismatch(response, getattr(expect, who), path)
        if problem:
            failures.append(f"{method} {path} ({endpoint}) as {who}: {problem}")
        elif who != "owner":
            db.session.expire_all()
            if owner_state(world.ids[0], tables) != before:
                failures.append(f"{method} {path} as {who} changed what the owner owns")
            if SECRET in text:
                failures.append(f"{method} {path} as {who} shows the owner's text")
    assert not failures, "\n".join(failures)
