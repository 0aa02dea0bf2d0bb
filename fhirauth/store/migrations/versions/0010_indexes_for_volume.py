"""indexes for a store of hundreds of thousands of authorizations

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# $inquire looks a member up, updates and inquiries name items by number, the review queue
# reads pended requests by due time and decisions not delivered yet, and delivered
# notifications are pruned by age: each was a full scan (see tests/store/test_indexes.py).
_INDEXES = (
    ("ix_submission_member_id", "submission", ["member_id"]),
    ("ix_authorization_item_authorization_number", "authorization_item", ["authorization_number"]),
    ("ix_authorization_status_due", "authorization", ["status", "due_at"]),
    ("ix_authorization_undelivered", "authorization", ["delivered_at", "decided_at"]),
    ("ix_outbox_event_done", "outbox_event", ["status", "delivered_at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
