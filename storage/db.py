"""Engines, sessions and migrations for SQLite (one replica) and PostgreSQL (many)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, Engine, Table, any_, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK_ID = 0x48435F4D  # "HC_M"


_foreground = threading.local()


def among(
    session: Session, column: InstrumentedAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN (values)`, as one array parameter (`= ANY(:values)`) on PostgreSQL.

    SQLAlchemy writes an IN list as one placeholder a value, so every batch size is new SQL
    that psycopg parses again: 200 ids cost 2.3 ms a query that way, 1.0 ms as an array.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def dialect_insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the session's database's own words (`ON CONFLICT`, `RETURNING`)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def mark_foreground() -> None:
    """Mark the calling thread as one somebody is waiting on (it answers Slack within 3 s).

    On SQLite its database work takes the process's one connection before background work
    (the outbox, the scheduler) that queued earlier; elsewhere it changes nothing. Used as the
    initializer of the threads that answer Slack requests.
    """
    _foreground.active = True


@contextmanager
def in_foreground() -> Iterator[None]:
    """Mark the calling thread as foreground (see `mark_foreground`) for the block."""
    before = getattr(_foreground, "active", False)
    _foreground.active = True
    try:
        yield
    finally:
        _foreground.active = before


class _ForegroundFirstQueue(sqla_queue.Queue[Any]):
    """The pool's queue of idle connections, handing one to foreground threads first.

    In a burst the outbox and the scheduler keep SQLite's one connection busy, and a first come,
    first served queue puts a report being submitted behind all of them, so its ack waits for
    work nobody is waiting on. Here a background thread waits while any foreground thread
    does; a foreground one takes the next connection returned.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._foreground_waiting = 0
        self.waiting = 0  # threads waiting for a connection (read by tests)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        with self.mutex:
            # `put` woke one waiter, maybe a background one that must keep waiting.
            self.not_empty.notify_all()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        foreground = getattr(_foreground, "active", False)
        with self.not_empty:
            if foreground:
                self._foreground_waiting += 1
            self.waiting += 1
            try:
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._empty() or (not foreground and self._foreground_waiting):
                    if not block:
                        raise sqla_queue.Empty
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise sqla_queue.Empty
                    self.not_empty.wait(remaining)
                item = self._get()
            finally:
                self.waiting -= 1
                if foreground:
                    self._foreground_waiting -= 1
            self.not_full.notify()
            if self._foreground_waiting == 0 and not self._empty():
                self.not_empty.notify_all()  # background waiters held back may go now
            return item


class _ForegroundFirstPool(QueuePool):
    _queue_class = _ForegroundFirstQueue


def make_engine(url: str) -> Engine:
    """Create an engine tuned for the backend: WAL and write locks up front on SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    # One connection per process: SQLite has one writer anyway, and queueing in the pool is
    # orderly (foreground threads first, then first come, first served), whereas SQLite's busy
    # handler lets waiters starve (p99 of seconds under load in benchmarks/ack_latency.py).
    # Other processes still wait politely.
    engine = create_engine(
        url,
        connect_args={"timeout": 10, "check_same_thread": False},
        poolclass=_ForegroundFirstPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=30,
    )
    in_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's legacy transaction control skips it).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")  # first: the pragmas below may wait on locks
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A deferred transaction that reads then writes gets SQLITE_BUSY at once in WAL mode,
        # ignoring busy_timeout; taking the write lock up front makes writers queue instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory every repository uses."""
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("storage") / "migrations"))
    return cfg


def is_current(engine: Engine) -> bool:
    """Tell whether the schema is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration; safe when replicas start at once."""
    if is_current(engine):
        return
    cfg = _alembic_config()
    with engine.connect() as conn:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            # A session lock (not a transaction one): held across Alembic's own transactions.
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            conn.commit()
        else:
            # SQLite: take the write lock (BEGIN IMMEDIATE) before Alembic reads the current
            # version, so a second process waits and then finds the work done, instead of
            # reading "empty" and creating tables that exist by then. Alembic runs inside it.
            conn.begin()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if postgres:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                conn.commit()
    log.info("database schema upgraded to the newest migration")


def ping(engine: Engine) -> bool:
    """Tell whether the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not ready"; the cause is logged
        log.warning("database ping failed", exc_info=True)
        return False
