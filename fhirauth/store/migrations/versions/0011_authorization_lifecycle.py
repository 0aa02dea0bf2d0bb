"""authorization lifecycle: item status and units used, renewals, the billing ledger

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CERTIFIED = "('A1', 'A2', 'A6')"


def upgrade() -> None:
    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("used_quantity", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renews", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_authorization_renews"), ["renews"], unique=False)
        batch_op.create_foreign_key("fk_authorization_renews", "authorization", ["renews"], ["id"])
    # What was certified before this revision is active; what was cancelled, cancelled.
    op.execute(
        "UPDATE authorization_item SET status = 'active' "
        f"WHERE review_action IN {_CERTIFIED} AND authorization_number IS NOT NULL"
    )
    op.execute(
        "UPDATE authorization_item SET status = 'cancelled' "
        "WHERE review_action = 'C' AND authorization_number IS NOT NULL"
    )
    op.create_table(
        "billing_claim",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("claim_identifier", sa.String(length=512), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("principal", "claim_identifier", name="uq_billing_claim_identifier"),
    )
    op.create_table(
        "billing_usage",
        sa.Column("billing_claim_id", sa.String(length=32), nullable=False),
        sa.Column("line_sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("item_sequence", sa.Integer(), nullable=False),
        sa.Column("units", sa.String(length=32), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["authorization_id"], ["authorization.id"]),
        sa.ForeignKeyConstraint(["billing_claim_id"], ["billing_claim.id"]),
        sa.PrimaryKeyConstraint("billing_claim_id", "line_sequence"),
    )
    op.create_index("ix_billing_usage_item", "billing_usage", ["authorization_id", "item_sequence"])


def downgrade() -> None:
    op.drop_index("ix_billing_usage_item", table_name="billing_usage")
    op.drop_table("billing_usage")
    op.drop_table("billing_claim")
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_constraint("fk_authorization_renews", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_authorization_renews"))
        batch_op.drop_column("renews")
    with op.batch_alter_table("authorization_item", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("used_quantity")
        batch_op.drop_column("status")
