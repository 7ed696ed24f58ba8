"""owners and root causes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 10:00:00

An item has an owner: the Jira assignee when it has a ticket (as a Slack user when one has the
assignee's e-mail, else by name), else whoever took it. The feedback table keeps who
(`owner_id`, `owner_name`), the Jira account the owner is tied to (`owner_ref`, so the bot's
own assignment is not announced again when the poll sees it) and since when. The digest's
open index holds the owner in place of the acknowledgement: "no owner" now means no owner.

A resolved item's root cause (symptom, the 5 whys, category, fix, prevention) is a row of its
own in `root_cause`, one per item.

On SQLite the feedback table's new columns go through batch mode; the FTS5 triggers of
migration 0012 are created again afterwards whatever batch mode did (as 0013 does), so the
search index keeps following new reports (tests/storage/test_migrations.py checks it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OPEN_ROWS = "state != 'resolved'"  # as storage/models.py spells it
OPEN_BEFORE = ["severity", "created_at", "id", "ticket_key", "acknowledged_by", "ticket_status"]
OPEN_AFTER = [
    "severity",
    "created_at",
    "id",
    "ticket_key",
    "ticket_status",
    "owner_id",
    "owner_name",
]


def _search_triggers() -> dict[str, str]:
    """Migration 0012's trigger DDL, read from its script (Alembic loads scripts by path)."""
    path = Path(__file__).with_name("0012_similar_reports.py")
    spec = importlib.util.spec_from_file_location("_hypercare_migration_0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    triggers: dict[str, str] = module.TRIGGERS
    return triggers


def _recreate_search_triggers() -> None:
    for name, ddl in _search_triggers().items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(ddl)


def _open_index(columns: list[str]) -> None:
    op.create_index(
        "ix_feedback_open",
        "feedback",
        columns,
        sqlite_where=sa.text(OPEN_ROWS),
        postgresql_where=sa.text(OPEN_ROWS),
    )


def upgrade() -> None:
    op.drop_index("ix_feedback_open", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("owner_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("owner_ref", sa.String(200), nullable=True))
        batch.add_column(sa.Column("owner_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_feedback_owner_id", ["owner_id"])
    _open_index(OPEN_AFTER)
    op.create_table(
        "root_cause",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feedback_id",
            sa.Integer(),
            sa.ForeignKey("feedback.id", name="fk_root_cause_feedback_id_feedback"),
            nullable=False,
        ),
        sa.Column("symptom", sa.Text(), nullable=False),
        sa.Column("whys", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("prevention", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_root_cause"),
        sa.UniqueConstraint("feedback_id", name="uq_root_cause_feedback_id"),
    )
    op.create_index("ix_root_cause_category", "root_cause", ["category"])
    if op.get_bind().dialect.name == "sqlite":
        _recreate_search_triggers()


def downgrade() -> None:
    op.drop_index("ix_root_cause_category", table_name="root_cause")
    op.drop_table("root_cause")
    op.drop_index("ix_feedback_open", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_owner_id")
        batch.drop_column("owner_at")
        batch.drop_column("owner_ref")
        batch.drop_column("owner_name")
        batch.drop_column("owner_id")
    _open_index(OPEN_BEFORE)
    if op.get_bind().dialect.name == "sqlite":
        _recreate_search_triggers()
