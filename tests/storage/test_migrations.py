"""Migrations: they build the schema the models describe, and replicas may start at once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.domain import SimilarQuery, UsersAffected
from sandbox.demo.samples import feedback_draft
from storage import db
from storage.models import Base, modelled
from storage.repositories import FeedbackRepository
from storage.similar import find_similar


def test_migrations_match_the_models(database_url: str) -> None:
    """After `migrate`, the database has exactly the tables and columns the models declare."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert db.is_current(engine)


def test_replicas_migrating_at_once_all_succeed(database_url: str, tmp_path: Path) -> None:
    """Three `hypercare-bot migrate` processes started together all succeed on one schema."""
    env = {**os.environ, "DATABASE_URL": database_url, "HYPERCARE_CONFIG": "unused.yaml"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "migrate"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    tables = set(inspect(db.make_engine(database_url)).get_table_names())
    assert {"feedback", "audit", "outbox", "alembic_version"} <= tables


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    """A file SQLite database is switched to WAL with foreign keys and a busy timeout."""
    engine = db.make_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_reports_stored_after_the_intake_migration_are_still_searched(
    database_url: str,
) -> None:
    """Migration 0013 adds columns to the feedback table; the text search keeps indexing new
    reports (on SQLite its FTS5 triggers survive or are made again), and old reports get
    their reach."""
    engine = db.make_engine(database_url)
    now = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    sessions = db.make_sessions(engine)
    config = db._alembic_config()
    with engine.connect() as conn:  # the schema as it was before migration 0013
        config.attributes["connection"] = conn
        command.upgrade(config, "0012")
        conn.commit()
    with engine.begin() as conn:  # a report from before the migration: the old columns only
        conn.execute(
            text(
                "INSERT INTO feedback (submission_key, summary, category, severity, component,"
                " environment, trying, expected, actual, users_affected, channel_id,"
                " reporter_id, state, created_at, updated_at) VALUES ('old', 'Old report',"
                " 'bug', 'sev1', 'payments-api', 'production', '', '', 'x', 'department',"
                " 'C1', 'U1', 'new', :now, :now)"
            ),
            {"now": now},
        )
    db.migrate(engine)
    repo = FeedbackRepository(sessions, "HC")
    draft = feedback_draft(summary="Refund export truncates currency column")
    stored = repo.add(draft, now).feedback
    assert (stored.reporters, stored.reach) == (1, 1000)
    assert stored.users_affected is UsersAffected.MANY
    with sessions() as session:
        found = find_similar(session, SimilarQuery(summary="refund export currency"), 5)
    assert [c.feedback_id for c in found] == [stored.id]
    with engine.connect() as conn:
        reach = conn.execute(text("SELECT reach FROM feedback WHERE summary = 'Old report'"))
        assert reach.scalar() == 100


def test_reports_stored_after_the_owners_migration_are_still_searched(
    database_url: str,
) -> None:
    """Migration 0014 adds the owner columns to the feedback table; the text search keeps
    indexing new reports, and an item stored before it has no owner."""
    engine = db.make_engine(database_url)
    now = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    sessions = db.make_sessions(engine)
    config = db._alembic_config()
    with engine.connect() as conn:  # the schema as it was before migration 0014
        config.attributes["connection"] = conn
        command.upgrade(config, "0013")
        conn.commit()
    with engine.begin() as conn:  # a report from before the migration: the old columns only
        conn.execute(
            text(
                "INSERT INTO feedback (submission_key, summary, category, severity, component,"
                " environment, trying, expected, actual, channel_id, reporter_id, state,"
                " created_at, updated_at) VALUES ('old', 'Invoice totals round the wrong way',"
                " 'bug', 'sev1', 'payments-api', 'production', '', '', 'x', 'C1', 'U1', 'new',"
                " :now, :now)"
            ),
            {"now": now},
        )
    db.migrate(engine)
    repo = FeedbackRepository(sessions, "HC")
    after = repo.add(feedback_draft(summary="Refund export truncates currency column"), now)
    before = repo.get(1)
    assert before is not None and not before.owned and not after.feedback.owned
    with sessions() as session:
        found = find_similar(session, SimilarQuery(summary="refund export currency"), 5)
        old = find_similar(session, SimilarQuery(summary="invoice totals round"), 5)
    assert [c.feedback_id for c in found] == [after.feedback.id]
    assert [c.feedback_id for c in old] == [1]
