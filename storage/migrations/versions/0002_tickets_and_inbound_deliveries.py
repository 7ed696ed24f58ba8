"""tickets and inbound deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:22:28.030123
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound")),
        sa.UniqueConstraint("key", name=op.f("uq_inbound_key")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("ticket_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("ticket_status", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("ticket_category", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ticket_error", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_feedback_ticket_key"), ["ticket_key"])


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_feedback_ticket_key"), type_="unique")
        batch_op.drop_column("ticket_error")
        batch_op.drop_column("ticket_category")
        batch_op.drop_column("ticket_status")
        batch_op.drop_column("ticket_url")
        batch_op.drop_column("ticket_key")

    op.drop_table("inbound")
