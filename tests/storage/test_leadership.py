"""Scheduler leadership: one replica leads on PostgreSQL; a dead leader's lock is taken over."""

from __future__ import annotations

from storage import db
from storage.leader import Leadership


def test_one_replica_leads_until_it_lets_go(database_url: str) -> None:
    """On PostgreSQL the second replica waits; on SQLite (one replica) it always leads."""
    first_engine, second_engine = db.make_engine(database_url), db.make_engine(database_url)
    first, second = Leadership(first_engine), Leadership(second_engine)
    try:
        assert first.holds() and first.holds()
        postgres = first_engine.dialect.name == "postgresql"
        assert second.holds() is not postgres
        first.release()
        assert second.holds()
        second.release()
        # Given up for good: a job still running during shutdown cannot take the lock back
        # (it would hold it on a connection nobody releases, and no later bot would lead).
        assert first.holds() is not postgres and second.holds() is not postgres
        third = Leadership(second_engine)
        assert third.holds()
        third.release()
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()


def test_a_leader_whose_connection_died_is_replaced(database_url: str) -> None:
    """Closing the leader's connection (a crash) frees the lock for the next replica."""
    first_engine, second_engine = db.make_engine(database_url), db.make_engine(database_url)
    first, second = Leadership(first_engine), Leadership(second_engine)
    try:
        assert first.holds()
        first._drop()  # what the database sees when a replica dies: its connection is gone
        assert second.holds()
    finally:
        first.release()
        second.release()
        first_engine.dispose()
        second_engine.dispose()
