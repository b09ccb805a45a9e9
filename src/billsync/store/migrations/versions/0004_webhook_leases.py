"""webhook_leases: who processes a connection's webhook events now

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import billsync.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_leases",
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=False),
        sa.Column("expires_at", billsync.store.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_webhook_leases_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "connection", name=op.f("pk_webhook_leases")),
    )


def downgrade() -> None:
    op.drop_table("webhook_leases")
