"""groups, group members and role inheritance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group", sa.String(length=150), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["group"],
            ["groups.name"],
            name=op.f("fk_group_members_group_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_group_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)
    op.create_table(
        "role_parents",
        sa.Column("role", sa.String(length=150), nullable=False),
        sa.Column("parent", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["role"], ["roles.name"], name=op.f("fk_role_parents_role_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent"],
            ["roles.name"],
            name=op.f("fk_role_parents_parent_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role", "parent", name=op.f("pk_role_parents")),
    )
    with op.batch_alter_table("role_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_parents_parent"), ["parent"], unique=False)


def downgrade() -> None:
    op.drop_table("role_parents")
    op.drop_table("group_members")
    op.drop_table("groups")
