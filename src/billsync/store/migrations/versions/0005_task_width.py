"""time_entries.task, line_entries.task: as wide as the source's task name

An entry's task is the task code mapping found, else the source's name for the task,
which may be as long as any name a source gives (200 characters).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("time_entries", "line_entries")


def upgrade() -> None:
    # SQLite never enforces a declared length: rebuilding a table of a million entries
    # to declare another would change nothing it stores.
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "task", type_=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "task", type_=sa.String(64), existing_nullable=False)
