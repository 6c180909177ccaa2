"""What saving costs the database: each statement on PostgreSQL is a round trip of its own."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from daybook import database
from daybook.extensions import db
from tests.databases import only_on_postgres
from tests.factories import csrf_token_from, make_entry, statements_during

_FIELD = re.compile(r'name="(title|tags|occurred_at|version)"[^>]*value="([^"]*)"')


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

    statements = statements_during(app, save)
    # The entry once; its new version and time are known from the UPDATE, not read back.
    assert len([s for s in statements if s.startswith("SELECT") and " FROM entry WHERE" in s]) == 1


def test_a_new_entry_does_not_read_back_the_tags_it_is_given(app, auth_client):
    def save():
        saved = auth_client.form(
            "/entries/new", {"title": "Tagged", "tags": "x y", "action": "save"}
        )
        assert saved.status_code == 302

    statements = statements_during(app, save)
    assert [s for s in statements if s.startswith("SELECT") and "entry_tag" in s] == []
    assert len([s for s in statements if s.startswith("INSERT INTO entry ")]) == 1


@only_on_postgres("psycopg forgets its prepared statements on ROLLBACK; SQLite's pages roll back")
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


@pytest.fixture
def cut_off_the_pool(app):
    """End the app's pooled connections from the server's side, as a restart of it would."""
    with app.app_context():
        engine = db.engine
    held = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    pids = [conn.driver_connection.info.backend_pid for conn in held]
    for conn in held:
        conn.close()  # back into the pool, alive for now

    def cut() -> None:
        killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        with killer.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM unnest(:p) pid"), {"p": pids}
            )
        killer.dispose()

    yield cut
    engine.dispose()  # no dead connection is left for the next test


@only_on_postgres("the pool's liveness check is for a server that can go away")
def test_a_connection_that_lay_idle_is_replaced_when_the_server_dropped_it(
    auth_client, user, monkeypatch, cut_off_the_pool
):
    entry_id = make_entry(user, title="Still here").id
    assert auth_client.get(f"/entries/{entry_id}").status_code == 200
    cut_off_the_pool()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)  # every connection counts as idle
    page = auth_client.get(f"/entries/{entry_id}")
    assert page.status_code == 200
    assert "Still here" in page.get_data(as_text=True)


@only_on_postgres("the pool's liveness check is for a server that can go away")
def test_a_connection_dropped_right_after_use_answers_503_once_then_the_pool_recovers(
    auth_client, user, cut_off_the_pool
):
    entry_id = make_entry(user, title="Back again").id
    assert auth_client.get(f"/entries/{entry_id}").status_code == 200
    cut_off_the_pool()
    # Used a moment ago, the connection is trusted without a ping: its statement fails, and
    # the reader is told to retry rather than shown a crash.
    failed = auth_client.get(f"/entries/{entry_id}")
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "5"
    assert auth_client.get(f"/entries/{entry_id}").status_code == 200


def test_list_entry_and_search_pages_read_their_entries_tags_with_them(app, auth_client, user):
    entry_id = make_entry(user, title="Tagged card", tags="beta alpha").id
    for path in ("/entries", f"/entries/{entry_id}", f"/entries/{entry_id}/edit", "/search?q=card"):
        statements = statements_during(app, lambda p=path: auth_client.get(p))
        assert [s for s in statements if s.startswith("SELECT entry_tag.entry_id")] == [], path
        page = auth_client.get(path).get_data(as_text=True)
        # The tags still show, in name order.
        assert page.index("alpha") < page.index("beta"), path
