"""webhook_events.headers: no header that is the webhook secret itself

Clockify signs a delivery by sending the webhook's token itself (Clockify-Signature).
Deliveries are now kept without it; those kept before still hold it in plain text,
where the connection's stored secrets are encrypted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:30:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SECRET = "clockify-signature"  # as delivered headers are kept: in lower case


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"UPDATE webhook_events SET headers = json_remove(headers, '$.\"{SECRET}\"') "
            f"WHERE json_type(headers, '$.\"{SECRET}\"') IS NOT NULL"
        )
        return
    op.execute(
        f"UPDATE webhook_events SET headers = (headers::jsonb - '{SECRET}')::json "
        f"WHERE jsonb_exists(headers::jsonb, '{SECRET}')"
    )


def downgrade() -> None:
    pass  # a secret removed is not put back
