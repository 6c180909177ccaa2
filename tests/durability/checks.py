"""Checks of a Daybook database after a crash, a restore or a full disk.

The database is read directly, with the app's own models and search service: its integrity, the
search index against the entry table, and every acknowledged entry against what was sent.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from daybook import create_app
from daybook.extensions import db
from daybook.models import Entry
from daybook.services import search
from tests.databases import SEARCH_ID, SEARCH_TABLE
from tests.durability.writers import Browser, Sent

SHOWN = 15  # lost or damaged entries listed in a failure message


def listed(items: list[str]) -> str:
    more = f"\n  … and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "\n  " + "\n  ".join(items[:SHOWN]) + more


class Checker:
    """Reads a Daybook database directly, with the app's own models and search service."""

    def __init__(self, data_dir, database_url: str | None = None):
        config = {
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "durability-checker-0123456789",
            "LOG_LEVEL": "WARNING",
        }
        if database_url:
            config["DATABASE_URL"] = database_url
        self.app = create_app(config)
        self.postgres = bool(database_url)

    def problems(self, acked: list[Sent], maybe: list[Sent] = ()) -> list[str]:
        """Return what is wrong with the database and the acknowledged entries in it.

        Entries in `maybe` need not be there, but any that is must be intact.
        """
        with self.app.app_context():
            try:
                found = self._integrity()
                # One read transaction (one snapshot) for the index and the entries.
                mismatched = search.index_mismatches()
                if mismatched:
                    found.append(
                        "the search index disagrees with the entry table for ids "
                        f"{mismatched[:SHOWN]}{' …' if len(mismatched) > SHOWN else ''}"
                    )
                found += self._entries(acked, maybe)
                db.session.rollback()
                if not self.postgres:
                    found += self._fts_integrity()
                return found
            finally:
                db.session.remove()
                db.engine.dispose()

    def present_titles(self, titles: list[str]) -> list[str]:
        """Return which of these titles some entry has."""
        with self.app.app_context():
            try:
                return list(
                    db.session.scalars(sa.select(Entry.title).where(Entry.title.in_(titles)))
                )
            finally:
                db.session.remove()
                db.engine.dispose()

    def _integrity(self) -> list[str]:
        if not self.postgres:
            rows = [r[0] for r in db.session.execute(sa.text("PRAGMA integrity_check"))]
            return [] if rows == ["ok"] else [f"PRAGMA integrity_check: {rows[:5]}"]
        return postgres_integrity()

    def _fts_integrity(self) -> list[str]:
        # FTS5's own check that its inverted index matches the text it stores (SQLite's
        # integrity_check does not look inside a virtual table on every version).
        try:
            db.session.execute(
                sa.text("INSERT INTO entry_fts(entry_fts) VALUES ('integrity-check')")
            )
            db.session.rollback()
        except sa.exc.DatabaseError as exc:
            db.session.rollback()
            return [f"FTS5 integrity-check failed: {exc.orig}"]
        return []

    def _entries(self, acked: list[Sent], maybe: list[Sent]) -> list[str]:
        rows: dict[int, tuple] = {}
        indexed: dict[int, tuple] = {}
        optional = {s.entry_id for s in maybe}
        acked = [*acked, *maybe]
        ids = [s.entry_id for s in acked]
        tags: dict[int, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in db.session.execute(
                sa.select(Entry.id, Entry.title, Entry.body, Entry.deleted_at).where(
                    Entry.id.in_(chunk)
                )
            ):
                rows[row.id] = row
            tags.update(search.tag_names_of(chunk))
            for row in db.session.execute(
                sa.text(
                    f"SELECT {SEARCH_ID} AS id, title, tags FROM {SEARCH_TABLE} "  # noqa: S608
                    f"WHERE {SEARCH_ID} IN ({','.join(str(i) for i in chunk)})"
                )
            ):
                indexed[row.id] = (row.title.replace("\x01", ""), row.tags.replace("\x01", ""))
        lost, damaged = [], []
        for sent in acked:
            row = rows.get(sent.entry_id)
            where = f"#{sent.entry_id} {sent.marker} (via {sent.via})"
            if row is None:
                if sent.entry_id not in optional:
                    lost.append(where)
            elif row.deleted_at is not None:
                damaged.append(f"{where}: in the trash")
            elif row.title != sent.title:
                damaged.append(f"{where}: title {row.title!r}")
            elif row.body != sent.body:
                damaged.append(f"{where}: body differs ({len(row.body)} of {len(sent.body)} chars)")
            elif sorted(tags.get(sent.entry_id, [])) != sorted(sent.tags):
                damaged.append(f"{where}: tags {tags.get(sent.entry_id)}")
            elif sent.entry_id not in indexed:
                damaged.append(f"{where}: no search index row")
            elif indexed[sent.entry_id][0] != sent.title or sorted(
                indexed[sent.entry_id][1].split()
            ) != sorted(sent.tags):
                damaged.append(f"{where}: search index row {indexed[sent.entry_id]!r}")
        found = []
        if lost:
            found.append(f"{len(lost)} acknowledged entries are missing:{listed(lost)}")
        if damaged:
            found.append(f"{len(damaged)} acknowledged entries are damaged:{listed(damaged)}")
        return found


def postgres_integrity() -> list[str]:
    """Check the tables and B-tree indexes of the current schema.

    With the amcheck extension (contrib, shipped with PostgreSQL): bt_index_check with
    heapallindexed on every B-tree index (every heap row is in the index, the index is ordered)
    and verify_heapam on every table. Without it: count each table's rows by a sequential
    scan and by an index-only scan of its primary key, which must agree.
    """
    available = db.session.scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'")
    )
    found: list[str] = []
    tables = db.session.scalars(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 1"
        )
    ).all()
    if available:
        db.session.execute(sa.text("CREATE EXTENSION IF NOT EXISTS amcheck"))
        db.session.commit()
        indexes = db.session.execute(
            sa.text(
                "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam "
                "WHERE n.nspname = current_schema() AND a.amname = 'btree' ORDER BY 2"
            )
        ).all()
        for oid, name in indexes:
            try:
                db.session.execute(sa.text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
            except sa.exc.DatabaseError as exc:
                db.session.rollback()
                found.append(f"bt_index_check({name}): {exc.orig}")
        for table in tables:
            rows = db.session.execute(
                sa.text("SELECT blkno, offnum, msg FROM verify_heapam(CAST(:t AS regclass))"),
                {"t": table},
            ).all()
            if rows:
                found.append(f"verify_heapam({table}): {rows[:3]}")
        db.session.rollback()
        return found
    for table in tables:
        db.session.execute(sa.text("SET LOCAL enable_indexscan = off"))
        db.session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        db.session.execute(sa.text("SET LOCAL enable_indexonlyscan = off"))
        by_heap = db.session.scalar(sa.text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
        db.session.rollback()
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        by_index = db.session.scalar(sa.text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
        db.session.rollback()
        if by_heap != by_index:
            found.append(f"{table}: {by_heap} rows by a table scan, {by_index} by its index")
    return found


def search_finds(port: int, token: str, sample: list[Sent]) -> list[str]:
    """Ask the running server's search for each entry's marker; return what it did not find."""
    client = Browser(port)
    missing = []
    for sent in sample:
        status, _, data = client.json("GET", f"/api/v1/search?q={sent.marker}", token=token)
        hits = json.loads(data)["results"] if status == 200 else []
        entries = [hit["entry"] for hit in hits if hit["entry"]["id"] == sent.entry_id]
        if status != 200 or not entries:
            missing.append(
                f"#{sent.entry_id} {sent.marker}: search answered {status}, {len(hits)} hits"
            )
        elif (entries[0]["title"], entries[0]["body"]) != (sent.title, sent.body):
            missing.append(f"#{sent.entry_id} {sent.marker}: served with other text")
    client.reset()
    return missing
