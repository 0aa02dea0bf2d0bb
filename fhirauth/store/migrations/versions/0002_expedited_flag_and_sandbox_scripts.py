"""expedited flag and sandbox scripts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:02:44.800761
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_script",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sandbox_script", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sandbox_script_pending", ["principal", "used_at", "id"], unique=False
        )

    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expedited", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_column("expedited")

    with op.batch_alter_table("sandbox_script", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_script_pending")

    op.drop_table("sandbox_script")
