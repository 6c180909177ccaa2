"""live entry index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A partial index on a user's live entries by date, for the entry list. PostgreSQL cannot take
its order from ix_entry_user_deleted_occurred (`deleted_at IS NULL` does not fix that column
the way an equality does), so on 100,000 entries it sorted them all for each page: 57 ms.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    op.create_index(
        "ix_entry_live_user_occurred",
        "entry",
        ["user_id", "occurred_at", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade():
    op.drop_index("ix_entry_live_user_occurred", table_name="entry")
