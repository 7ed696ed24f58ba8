"""when a grouped page DM's post began

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00

A delivery marks the group before it posts the DM; a later try that finds the mark but no
message looks in Slack (the message metadata names the group) before posting another, so a
replica killed between posting and recording does not make the person's DM arrive twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("page_group") as batch:
        batch.add_column(sa.Column("post_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_group") as batch:
        batch.drop_column("post_started_at")
