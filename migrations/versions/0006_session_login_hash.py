"""session login hash

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

The digest of the login a browser session carries, beside the session's data, so that every
signed-in request reads its session, its login and its user in one statement instead of two.
Sessions written before it have none and are read the old way until they are next saved.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("web_session", sa.Column("login_hash", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("web_session") as batch:
        batch.drop_column("login_hash")
