"""clients, assertion jti, rate windows and the audit trail

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("jwks_url", sa.Text(), nullable=True),
        sa.Column("organizations", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "client_assertion_use",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    op.create_index(
        "ix_client_assertion_use_expires", "client_assertion_use", ["expires_at"], unique=False
    )
    op.create_table(
        "rate_window",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "slot"),
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("route", sa.String(length=255), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_recorded_at", "audit_event", ["recorded_at"], unique=False)
    op.create_index("ix_audit_event_agent", "audit_event", ["agent", "recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_event_agent", table_name="audit_event")
    op.drop_index("ix_audit_event_recorded_at", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_table("rate_window")
    op.drop_index("ix_client_assertion_use_expires", table_name="client_assertion_use")
    op.drop_table("client_assertion_use")
    op.drop_table("client")
