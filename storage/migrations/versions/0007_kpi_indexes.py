"""indexes for the KPI queries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 16:00:00

Each index turns a KPI query that read the whole table (or every row of a severity) into a
read of the rows it counts; benchmarks/digest_kpis.py measures the difference.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# name, table, columns
INDEXES = [
    # MTTR and resolutions per day, open counts, the backlog: a range or IS NULL on resolved_at,
    # answered from the index alone (severity and created_at are in it)
    ("ix_feedback_resolved_at", "feedback", ["resolved_at", "severity", "created_at"]),
    # items opened per day and per period, by severity, from the index alone
    ("ix_feedback_created_at_severity", "feedback", ["created_at", "severity"]),
    # the latest resolution of one severity ("no open sev1 for 7 days"): one index entry
    ("ix_feedback_severity_resolved_at", "feedback", ["severity", "resolved_at"]),
    # MTTA: escalations acknowledged in a period
    ("ix_escalation_acknowledged_at", "escalation", ["acknowledged_at"]),
    # firing alerts and the latest resolved one, by severity
    ("ix_alert_resolved_at", "alert", ["resolved_at", "severity", "fired_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
