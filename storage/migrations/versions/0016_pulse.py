"""user pulse

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-16 10:00:00

The user pulse: `pulse` holds each pulse sent (scheduled or sent now by a lead); its `key` is
unique (`scheduled:<local date>` for a scheduled one), so replicas racing for a due slot send
it once. `pulse_answer` holds one answer per person per pulse (unique pulse and user): pressing
another number updates the row, never adds one; the score is 1 to 5. Both are new tables: the
feedback table is not altered, so migration 0012's FTS5 triggers stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pulse",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("question", sa.String(300), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pulse"),
        sa.UniqueConstraint("key", name="uq_pulse_key"),
    )
    op.create_index("ix_pulse_created_at", "pulse", ["created_at"])
    op.create_index("ix_pulse_closes_at", "pulse", ["closes_at"])
    op.create_table(
        "pulse_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "pulse_id",
            sa.Integer(),
            sa.ForeignKey("pulse.id", name="fk_pulse_answer_pulse_id_pulse"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pulse_answer"),
        sa.UniqueConstraint("pulse_id", "user_id", name="uq_pulse_answer_pulse_id"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_pulse_answer_score"),
    )
    op.create_index("ix_pulse_answer_answered_at", "pulse_answer", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_pulse_answer_answered_at", table_name="pulse_answer")
    op.drop_table("pulse_answer")
    op.drop_index("ix_pulse_closes_at", table_name="pulse")
    op.drop_index("ix_pulse_created_at", table_name="pulse")
    op.drop_table("pulse")
