"""search rows inline

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

PostgreSQL only. Search walks entry_search from the newest entry back, testing each row's
document until it has the window of matches it ranks. A row of an ordinary entry (its text and
its document, about 3 kB) was over the 2 kB at which PostgreSQL compresses values or moves them
to the TOAST table, so every row tested cost a lookup there and a decompression. Rows up to a
page (8 kB) now stay whole in the table: a search costs about a third less of the server's CPU,
for some 10% more disk. The existing rows are rewritten once, which locks the table for about
ten seconds per 100,000 entries.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WHOLE_PAGE = 8160  # the largest toast_tuple_target PostgreSQL accepts for 8 kB pages


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE entry_search SET (toast_tuple_target = {WHOLE_PAGE})")
    with op.get_context().autocommit_block():  # VACUUM cannot run inside a transaction
        op.execute("VACUUM FULL entry_search")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE entry_search RESET (toast_tuple_target)")
