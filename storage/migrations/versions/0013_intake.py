"""reporters, merges and known issues

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00

A report may now have several reporters: "Same problem: +1" in the form, or a lead's merge of
one item into another. Each later reporter is a row of `feedback_reporter` (who, when, their
environment, correlation id, how many users, their words); the item keeps the totals
(`reporters`, `reach`) so that lists and the priority score read one row. A merged item keeps
`merged_into_id`; a known issue keeps its workaround, who marked it and when.

On SQLite the feedback table's new columns go through batch mode. Should batch mode rebuild
the table (it copies it into a new one), the FTS5 triggers of migration 0012 would go with the
old table; they are created again here whatever happened, so the search index keeps following
new reports (tests/storage/test_migrations.py checks a report stored after this migration is
found).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Each band's reach as bot/domain.py counts it: existing reports get theirs.
_REACH = {"one": 1, "team": 10, "department": 100, "many": 1000, "all": 1000, "unknown": 1}


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


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("reporters", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("reach", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("known_match_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("known_workaround", sa.Text(), nullable=True))
        batch.add_column(sa.Column("known_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("known_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_feedback_merged_into_id", ["merged_into_id"])
    reach = sa.case(
        *((sa.column("users_affected") == band, n) for band, n in _REACH.items()), else_=1
    )
    op.execute(
        sa.table("feedback", sa.column("reach"), sa.column("users_affected"))
        .update()
        .values(reach=reach)
    )
    op.create_table(
        "feedback_reporter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "feedback_id",
            sa.Integer(),
            sa.ForeignKey("feedback.id", name="fk_feedback_reporter_feedback_id_feedback"),
            nullable=False,
        ),
        sa.Column("reporter_id", sa.String(32), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("users_affected", sa.String(16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_from_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_reporter"),
        sa.UniqueConstraint("feedback_id", "reporter_id", name="uq_feedback_reporter_feedback_id"),
    )
    op.create_index("ix_feedback_reporter_at", "feedback_reporter", ["at"])
    if op.get_bind().dialect.name == "sqlite":
        _recreate_search_triggers()


def downgrade() -> None:
    op.drop_index("ix_feedback_reporter_at", table_name="feedback_reporter")
    op.drop_table("feedback_reporter")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_merged_into_id")
        batch.drop_column("known_at")
        batch.drop_column("known_by")
        batch.drop_column("known_workaround")
        batch.drop_column("known_match_id")
        batch.drop_column("merged_into_id")
        batch.drop_column("reach")
        batch.drop_column("reporters")
    if op.get_bind().dialect.name == "sqlite":
        _recreate_search_triggers()
