"""Which replica leads the scheduler: a PostgreSQL session advisory lock on its own connection.

The lock lives as long as the connection, so a replica that dies (even by SIGKILL) lets go the
moment PostgreSQL notices the connection is gone, and the next replica to ask takes over. A
leader hand-over can briefly overlap (a leader cut off from the database still believes it
leads until its next check); the `(job, slot)` claims make that harmless. SQLite means one
replica, which always leads.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

_LEADER_LOCK_ID = 0x48435F4C  # "HC_L"; the migration lock uses another number


class Leadership:
    """Answers "does this replica lead the scheduler?", taking the lead when it is free."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        # Once given up (the replica stops), never taken again: a job still running during
        # shutdown would otherwise take the lock back on a connection nobody releases, and the
        # next bot on the database would never lead.
        self._released = False

    def holds(self) -> bool:
        """Check the lock is still ours, or try to take it; False on any database trouble."""
        if not self._postgres:
            return True
        with self._mutex:
            if self._released:
                return False
            try:
                if self._conn is not None:
                    self._conn.execute(text("SELECT 1"))
                    self._conn.commit()
                    return True
                conn = self._engine.connect()
                taken = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:id)"), {"id": _LEADER_LOCK_ID}
                    ).scalar()
                )
                conn.commit()
                if not taken:
                    conn.close()
                    return False
                self._conn = conn
                log.info("this replica now leads the scheduler")
                return True
            except Exception as exc:  # a lost connection loses the lock with it
                log.warning("scheduler leadership lost or not taken: %s", type(exc).__name__)
                self._drop()
                return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # the connection is already broken; nothing more to release
                log.debug("closing the leadership connection failed", exc_info=True)
            self._conn = None

    def release(self) -> None:
        """Give the lead up for good (on shutdown), so another replica takes over at once."""
        with self._mutex:
            self._released = True
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LEADER_LOCK_ID})
                self._conn.commit()
                self._conn.close()
            except Exception:  # closing the connection releases the lock anyway
                log.debug("releasing the scheduler lead failed", exc_info=True)
            self._conn = None
