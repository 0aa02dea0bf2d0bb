"""review clocks and documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:37:20.371632
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("item_sequence", sa.Integer(), nullable=True),
        sa.Column("tracking_id", sa.String(length=128), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attachment_authorization_id"), ["authorization_id"], unique=False
        )

    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("documentation_received_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_documents", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.drop_column("requested_documents")

    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_column("documentation_received_at")
        batch_op.drop_column("due_at")

    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_authorization_id"))

    op.drop_table("attachment")
