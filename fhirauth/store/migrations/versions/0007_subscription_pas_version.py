"""subscription PAS version and payload content

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Subscriptions made before the PAS 2.0.1 base were all 2.2.1 and full-resource.
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pas_version", sa.String(length=8), nullable=False, server_default="2.2.1")
        )
        batch_op.add_column(
            sa.Column(
                "payload_content",
                sa.String(length=16),
                nullable=False,
                server_default="full-resource",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("payload_content")
        batch_op.drop_column("pas_version")
