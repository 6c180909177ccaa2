"""What saving costs the database: each statement on PostgreSQL is a round trip of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import event

from daybook.extensions import db
from tests.databases import only_on_postgres
from tests.factories import csrf_token_from, make_entry

_FIELD = re.compile(r'name="(title|tags|occurred_at|version)"[^>]*value="([^"]*)"')


def _statements(app, action: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def note(conn, cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_saving_an_edit_reads_the_entry_once(app, auth_client, user):
    entry_id = make_entry(user, title="Edited once", tags="a b").id
    page = auth_client.get(f"/entries/{entry_id}/edit").get_data(as_text=True)
    fields = dict(_FIELD.findall(page))

    def save():
        saved = auth_client.post(
            f"/entries/{entry_id}/edit",
            data={
                **fields,
                "body": "new text",
                "csrf_token": csrf_token_from(page),
                "action": "save",
            },
        )
        assert saved.status_code == 302

    statements = _statements(app, save)
    # The entry once; its new version and time are known from the UPDATE, not read back.
    assert len([s for s in statements if s.startswith("SELECT") and " FROM entry WHERE" in s]) == 1


def test_a_new_entry_does_not_read_back_the_tags_it_is_given(app, auth_client):
    def save():
        saved = auth_client.form(
            "/entries/new", {"title": "Tagged", "tags": "x y", "action": "save"}
        )
        assert saved.status_code == 302

    statements = _statements(app, save)
    assert [s for s in statements if s.startswith("SELECT") and "entry_tag" in s] == []
    assert len([s for s in statements if s.startswith("INSERT INTO entry ")]) == 1


def test_a_page_ends_its_read_with_commit_so_prepared_statements_survive(app, auth_client, user):
    # psycopg forgets its prepared statements on every ROLLBACK: pages must not end in one.
    entry_id = make_entry(user, title="Read").id
    ends: list[str] = []
    with app.app_context():
        engine = db.engine
    listeners = {
        "commit": lambda conn: ends.append("commit"),
        "rollback": lambda conn: ends.append("rollback"),
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        for path in ("/entries", f"/entries/{entry_id}", "/search?q=read", "/entries/999999"):
            auth_client.get(path)
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
    assert ends and "rollback" not in ends


@only_on_postgres("psycopg sends BEGIN and COMMIT as round trips of their own")
def test_pages_read_without_a_transaction_and_saves_write_in_one(app, auth_client, user):
    entry_id = make_entry(user, title="Read").id
    seen: dict[str, set[bool]] = {"GET": set(), "POST": set()}
    method = ["GET"]

    def note(conn, cursor, statement, *_args):
        seen[method[0]].add(conn.connection.dbapi_connection.autocommit)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        auth_client.get(f"/entries/{entry_id}")
        auth_client.get("/entries")
        method[0] = "POST"
        auth_client.form("/entries/new", {"title": "Written", "tags": "a", "action": "save"})
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen == {"GET": {True}, "POST": {False}}
