"""lessons learned

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-14 10:00:00

The lessons-learned register: `lesson` holds each entry (its kind, text, author and time),
`lesson_item` the items it names, one row per item so an item's lessons are read by index.
Both are new tables: the feedback table is not altered, so migration 0012's FTS5 triggers
stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lesson"),
    )
    with op.batch_alter_table("lesson") as batch:
        batch.create_index("ix_lesson_created_at", ["created_at"])
    op.create_table(
        "lesson_item",
        sa.Column(
            "lesson_id",
            sa.Integer(),
            sa.ForeignKey("lesson.id", name="fk_lesson_item_lesson_id_lesson"),
            nullable=False,
        ),
        sa.Column(
            "feedback_id",
            sa.Integer(),
            sa.ForeignKey("feedback.id", name="fk_lesson_item_feedback_id_feedback"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("lesson_id", "feedback_id", name="pk_lesson_item"),
    )
    with op.batch_alter_table("lesson_item") as batch:
        batch.create_index("ix_lesson_item_feedback_id", ["feedback_id"])


def downgrade() -> None:
    with op.batch_alter_table("lesson_item") as batch:
        batch.drop_index("ix_lesson_item_feedback_id")
    op.drop_table("lesson_item")
    with op.batch_alter_table("lesson") as batch:
        batch.drop_index("ix_lesson_created_at")
    op.drop_table("lesson")
