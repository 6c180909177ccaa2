"""search rows owner

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

PostgreSQL only. Each entry_search row now carries its entry's user_id, with an index on
(user_id, entry_id). Search walks a user's rows from the newest back until it has the window
of matches it ranks; it joined every row it walked to `entry` to learn whose it was, and that
join cost more than the walk itself: at 100,000 entries, for a word in 10% of them, the walk
took 4.5 ms with the join and 1.3 ms without. Rows exist only for live entries, so the owner is
all the walk needs; and in a journal shared by several people, the index lets it skip the
others' rows.

The existing rows are rewritten once (the UPDATE, then VACUUM FULL to give back the space of
their old versions), which locks the table for about twenty seconds per 100,000 entries.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE entry_search ADD COLUMN user_id integer")
    op.execute("UPDATE entry_search s SET user_id = e.user_id FROM entry e WHERE e.id = s.entry_id")
    op.execute("ALTER TABLE entry_search ALTER COLUMN user_id SET NOT NULL")
    op.execute("CREATE INDEX ix_entry_search_user_id_entry_id ON entry_search (user_id, entry_id)")
    with op.get_context().autocommit_block():  # VACUUM cannot run inside a transaction
        op.execute("VACUUM FULL ANALYZE entry_search")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_entry_search_user_id_entry_id")
    op.execute("ALTER TABLE entry_search DROP COLUMN user_id")
