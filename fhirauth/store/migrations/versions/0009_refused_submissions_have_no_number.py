"""refused submissions carry no authorization number

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A request answered outcome=error was not authorized: it has no preAuthRef. (On SQLite
    # this rebuilds the table; fhirauth.store.db.migrate turns foreign keys off for that.)
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.alter_column("pre_auth_ref", existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE \"authorization\" SET pre_auth_ref = NULL WHERE status = 'error'")


def downgrade() -> None:
    op.execute(
        "UPDATE \"authorization\" SET pre_auth_ref = 'refused-' || id WHERE pre_auth_ref IS NULL"
    )
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.alter_column("pre_auth_ref", existing_type=sa.String(length=64), nullable=False)
