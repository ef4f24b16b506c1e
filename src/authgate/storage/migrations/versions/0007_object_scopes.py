"""Users and clients live under a scope, where their administrators are bound

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("users", "clients")


def upgrade() -> None:
    # Existing rows live at "/": only holders of the admin permissions at the root see them.
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("scope", sa.String(length=1000), server_default="/", nullable=False)
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_scope"), ["scope"], unique=False)


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_scope"))
            batch_op.drop_column("scope")
