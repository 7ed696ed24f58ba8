"""Small helpers shared by the test modules: waiting for definite events, never for time.

A test waits until something has been recorded (a message posted, a row done, a job run) and then
asserts on it. A test showing that nothing more arrives waits, the same way, for a recorded event
that proves the bot worked past the point of interest: the outbox drained, a later scheduler run
finished. A fixed sleep only hopes that enough time passed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import Engine, create_engine, func, select

from storage.models import JobRunRow, OutboxRow


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    if result := check():  # one last look: a slow machine may have got there meanwhile
        return result
    name = getattr(check, "__qualname__", repr(check))
    raise AssertionError(f"condition not met in {timeout} s: {name}")


# -- the outbox and the claims, straight from the database ----------------------------------------


@contextmanager
def database(url: str) -> Iterator[Engine]:
    """An engine on a bot's database (one run as another process, say), disposed afterwards."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def outbox_pending(engine: Engine, kind: str | None = None) -> int:
    """Outbox rows not yet done or failed (leased ones included), of one kind or of all."""
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")
    if kind is not None:
        query = query.where(OutboxRow.kind == kind)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def wait_outbox_drained(engine: Engine, timeout: float = 15.0) -> None:
    """Wait until every queued side effect was carried out (or given up): nothing more is sent.

    Call it after whatever queues the effects of interest has returned (their rows are queued
    in the same transaction as the change that caused them).
    """
    wait_until(lambda: outbox_pending(engine) == 0, timeout=timeout)


def outbox_attempted(engine: Engine, kind: str) -> list[tuple[int, str | None]]:
    """(attempts, last error) of the pending rows of a kind that were tried and put back."""
    query = select(OutboxRow.attempts, OutboxRow.last_error).where(
        OutboxRow.kind == kind, OutboxRow.status == "pending", OutboxRow.last_error.is_not(None)
    )
    with engine.connect() as conn:
        return [(int(row[0]), row[1]) for row in conn.execute(query)]


def claims(engine: Engine, job_prefix: str) -> list[tuple[str, str]]:
    """(job, slot) of the scheduled runs claimed so far whose job starts with `job_prefix`."""
    query = select(JobRunRow.job, JobRunRow.slot).where(JobRunRow.job.startswith(job_prefix))
    with engine.connect() as conn:
        return [(str(row[0]), str(row[1])) for row in conn.execute(query)]


# -- scheduler runs of an in-process bot ----------------------------------------------------------


class JobRuns:
    """The runs of one scheduler job of a running bot, recorded as the scheduler finishes them."""

    def __init__(self, runtime: Any, job_id: str) -> None:
        scheduler = runtime._scheduler  # the bot's own APScheduler; the test only listens to it
        assert scheduler is not None, "the bot schedules no jobs"
        assert scheduler.get_job(job_id) is not None, f"the bot has no {job_id} job"
        self._job_id = job_id
        self._lock = threading.Lock()
        self._scheduled: list[dt.datetime] = []
        scheduler.add_listener(self._record, EVENT_JOB_EXECUTED)

    def _record(self, event: JobExecutionEvent) -> None:
        if event.job_id == self._job_id:
            with self._lock:
                self._scheduled.append(event.scheduled_run_time)

    def wait_for_run_after(self, moment: dt.datetime | float, timeout: float = 15.0) -> None:
        """Wait until a run scheduled at or after `moment` (datetime or epoch seconds) finished."""
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.fromtimestamp(moment, dt.UTC)

        def ran() -> bool:
            with self._lock:
                return any(at >= moment for at in self._scheduled)

        wait_until(ran, timeout=timeout)
