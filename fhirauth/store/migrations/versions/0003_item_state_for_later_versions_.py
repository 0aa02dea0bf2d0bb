"""item state for later versions, submission member and provider

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:25:41.256191
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("authorized_quantity", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("requested_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("requested_end", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("recommendation", sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))

    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("provider_identifier", sa.String(length=512), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_submission_claim_identifier"), ["claim_identifier"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_claim_identifier"))
        batch_op.drop_column("provider_identifier")
        batch_op.drop_column("member_id")

    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.drop_column("content")
        batch_op.drop_column("recommendation")
        batch_op.drop_column("requested_end")
        batch_op.drop_column("requested_start")
        batch_op.drop_column("authorized_quantity")
        batch_op.drop_column("reason")
        batch_op.drop_column("issue_date")
