"""Audit events carry the scope of the object they are about

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing events keep NULL: their hashes were computed without a scope, so giving them
    # one now would break the chain. Only a reader entitled at "/" sees them.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=1000), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_scope"), ["scope"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_scope"))
        batch_op.drop_column("scope")
