"""grouped page DMs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:00:00

Pages to one person within a short window share one DM, updated in place as more arrive: a
row per such DM, with the steps it shows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rendered_version", sa.Integer(), nullable=False),
        sa.Column("delivery_pending", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_group")),
    )
    op.create_index("ix_page_group_user_opened", "page_group", ["user_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_page_group_user_opened", table_name="page_group")
    op.drop_table("page_group")
