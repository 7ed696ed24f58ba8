"""escalations, on-call overrides and feedback acknowledgements

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:00:00
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
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolve_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=32), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("paged", sa.JSON(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
        sa.UniqueConstraint("item_kind", "item_id", name="uq_escalation_item_kind"),
    )
    op.create_index(op.f("ix_escalation_next_due"), "escalation", ["next_due"])
    op.create_index(op.f("ix_escalation_severity"), "escalation", ["severity"])
    op.create_index(op.f("ix_escalation_sla_breached_at"), "escalation", ["sla_breached_at"])
    op.create_table(
        "oncall_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rota", sa.String(length=64), nullable=False),
        sa.Column("who", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_override")),
    )
    op.create_index(op.f("ix_oncall_override_ends_at"), "oncall_override", ["ends_at"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("acknowledged_at")
        batch.drop_column("acknowledged_by")
    op.drop_index(op.f("ix_oncall_override_ends_at"), table_name="oncall_override")
    op.drop_table("oncall_override")
    op.drop_index(op.f("ix_escalation_sla_breached_at"), table_name="escalation")
    op.drop_index(op.f("ix_escalation_severity"), table_name="escalation")
    op.drop_index(op.f("ix_escalation_next_due"), table_name="escalation")
    op.drop_table("escalation")
