"""hourly metric figures

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:00:00
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
        "metric_hour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("total", sa.Double(), nullable=False),
        sa.Column("worst", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_hour")),
        sa.UniqueConstraint("rule_id", "hour", name="uq_metric_hour_rule_id"),
    )
    op.create_index(op.f("ix_metric_hour_hour"), "metric_hour", ["hour"])


def downgrade() -> None:
    op.drop_index(op.f("ix_metric_hour_hour"), table_name="metric_hour")
    op.drop_table("metric_hour")
