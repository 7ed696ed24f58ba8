"""Migrations: they build the schema the models describe, and replicas may start at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import db
from storage.models import Base, modelled


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
