"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 10:52:42.629293
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "authorization",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pre_auth_ref", sa.String(length=64), nullable=False),
        sa.Column("claim_response_id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_response_id"),
        sa.UniqueConstraint("pre_auth_ref"),
    )
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authorization_principal"), ["principal"], unique=False)

    op.create_table(
        "authorization_item",
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("code_system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("review_action", sa.String(length=4), nullable=False),
        sa.Column("authorization_number", sa.String(length=80), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
        ),
        sa.PrimaryKeyConstraint("authorization_id", "sequence"),
    )
    op.create_table(
        "decision_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("item_sequence", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decision_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_decision_event_authorization", ["authorization_id", "id"], unique=False
        )

    op.create_table(
        "submission",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bundle_identifier", sa.String(length=512), nullable=True),
        sa.Column("claim_identifier", sa.String(length=512), nullable=True),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("claim", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_id"),
        sa.UniqueConstraint("principal", "content_hash", name="uq_submission_content"),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_authorization_id"), ["authorization_id"], unique=False
        )

    op.create_table(
        "claim_response_version",
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
        ),
        sa.PrimaryKeyConstraint("authorization_id", "version"),
    )


def downgrade() -> None:

    op.drop_table("claim_response_version")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_authorization_id"))

    op.drop_table("submission")
    with op.batch_alter_table("decision_event", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_event_authorization")

    op.drop_table("decision_event")
    op.drop_table("authorization_item")
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_principal"))

    op.drop_table("authorization")
