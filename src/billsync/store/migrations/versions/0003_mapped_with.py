"""time_entries.mapped_with: the mapping inputs an entry's codes were resolved under

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mapped_with", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.drop_column("mapped_with")
