"""indexes for the digest's lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00

The digest's open-items and needs-a-decision lists, and its open counts, read only the open
rows: a partial index of them by (severity, created_at) hands out each severity's unbreached
items oldest first, so a top-N query stops after N rows instead of sorting the whole backlog,
and it holds every column the counts and the ranking read, so neither visits the table.
SQLite and PostgreSQL both take `CREATE INDEX … WHERE`. benchmarks/digest_kpis.py measures
the difference.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The predicate as storage/models.py and storage/digest.py spell it: SQLite uses a partial
# index only when the query's WHERE contains the index's WHERE term for term.
OPEN_ROWS = "state != 'resolved'"

# name, table, columns, predicate
INDEXES = [
    # the open rows by severity and age, with what the digest's counts and lists read of
    # them (the id for the escalation join, and who owns an item or blocks it): index-only
    (
        "ix_feedback_open",
        "feedback",
        ["severity", "created_at", "id", "ticket_key", "acknowledged_by", "ticket_status"],
        OPEN_ROWS,
    ),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(
            name,
            table,
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
