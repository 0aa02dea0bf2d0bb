"""appeals, review-time extensions and what the CMS-0057-F metrics count

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00

Authorizations decided before this revision get a determination from their items as they
stand, at their decision time (``decided_at``): the best that can be said of them now. Those
cancelled after a decision cannot be told from those withdrawn before one; both stay without.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DECIDED = ("A1", "A2", "A3", "A6")


def _determination(actions: list[str]) -> str | None:
    """As ``fhirauth.decision.outcomes.determination`` says it (a migration keeps its own)."""
    live = [a for a in actions if a != "C"]
    if not live:
        return None
    decided = [a for a in live if a in _DECIDED]
    if not decided:
        return "not-required"
    if all(a == "A1" for a in decided):
        return "approved"
    if all(a == "A3" for a in decided):
        return "denied"
    return "partial"


def upgrade() -> None:
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("determined_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("determination", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("review_extended_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_authorization_received", ["received_at"], unique=False)
    op.create_table(
        "appeal",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("certification_type", sa.String(length=1), nullable=False),
        sa.Column("expedited", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["authorization_id"], ["authorization.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_appeal_authorization", "appeal", ["authorization_id", "decided_at"], unique=False
    )
    conn = op.get_bind()
    decided = dict(
        conn.execute(
            sa.text(
                'SELECT id, decided_at FROM "authorization" '
                "WHERE status IN ('decided', 'denied') AND decided_at IS NOT NULL"
            )
        ).all()
    )
    actions: dict[str, list[str]] = defaultdict(list)
    for auth_id, action in conn.execute(
        sa.text(
            "SELECT i.authorization_id, i.review_action FROM authorization_item i "
            'JOIN "authorization" a ON a.id = i.authorization_id '
            "WHERE a.status IN ('decided', 'denied') AND a.decided_at IS NOT NULL"
        )
    ):
        actions[auth_id].append(action)
    update = sa.text(
        'UPDATE "authorization" SET determined_at = :at, determination = :what WHERE id = :id'
    )
    rows = [
        {"id": auth_id, "at": at, "what": _determination(actions[auth_id])}
        for auth_id, at in decided.items()
    ]
    if rows:
        conn.execute(update, rows)


def downgrade() -> None:
    op.drop_index("ix_appeal_authorization", table_name="appeal")
    op.drop_table("appeal")
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_index("ix_authorization_received")
        batch_op.drop_column("review_extended_at")
        batch_op.drop_column("determination")
        batch_op.drop_column("determined_at")
