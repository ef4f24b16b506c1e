"""revocations change counter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_counters = sa.table("change_counter", sa.column("name"), sa.column("value"))


def upgrade() -> None:
    # Seeded, so the first concurrent bumps update one row instead of racing to insert it.
    op.bulk_insert(_counters, [{"name": "revocations", "value": 0}])


def downgrade() -> None:
    op.execute(_counters.delete().where(_counters.c.name == "revocations"))
