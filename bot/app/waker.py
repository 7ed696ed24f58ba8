"""Bring scheduled jobs forward to when they next have work (an escalation step falling due).

A job keeping due times in the database runs on an interval, and can say how long until its
next due time (an index read). The waker asks after each run of the job, and every second on the
replica that leads (due times stored meanwhile, e.g. by a start on another replica), and moves
the job's next run to then when that is sooner than the interval: a step is paged when it falls
due rather than up to an interval later. The waker does this from its own thread: a job must
never call into the scheduler itself, because APScheduler's shutdown holds the job store's lock
while it waits for running jobs to finish.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence

from apscheduler.schedulers.base import BaseScheduler

from bot.parts import Job

log = logging.getLogger(__name__)

LOOK_EVERY_S = 1.0  # how often the leader looks for due times stored since the last run
OVERDUE_AGAIN_S = 0.1  # how soon a job runs again for work that fell due while it ran
SAME_DUE_S = 0.05  # two overdue readings this close name the same due time


class JobWaker:
    """Moves jobs' next runs earlier on request, from a thread of its own."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        jobs: Sequence[Job],
        leads: Callable[[], bool],
        stop: threading.Event,
        look_every: float = LOOK_EVERY_S,
    ) -> None:
        self._scheduler = scheduler
        self._jobs = [job for job in jobs if job.next_in is not None]
        self._leads = leads
        self._stop = stop
        self._look_every = look_every
        self._lock = threading.Lock()
        self._asked: dict[str, dt.datetime] = {}
        self._overdue: dict[str, dt.datetime] = {}  # the overdue due time last seen, per job
        self._ring = threading.Event()

    @property
    def needed(self) -> bool:
        """Whether any job keeps due times (else the waker need not run)."""
        return bool(self._jobs)

    def after_run(self, job: Job) -> None:
        """Called by the job's thread after each run: ask to run it when it next has work."""
        if self._ask(job):
            self._ring.set()

    def _ask(self, job: Job) -> bool:
        wait = job.next_in() if job.next_in is not None else None
        if wait is None:
            return False  # nothing ahead
        now = dt.datetime.now(dt.UTC)
        at = now + dt.timedelta(seconds=wait)
        if wait <= 0:
            # Work that fell due while the job ran (a burst's steps come due one after
            # another): run again shortly. The same overdue time seen twice is work another
            # transaction holds: leave it to the interval rather than spin on it.
            with self._lock:
                stuck = self._overdue.get(job.id)
                self._overdue[job.id] = at
            if stuck is not None and abs((stuck - at).total_seconds()) < SAME_DUE_S:
                return False
            at = now + dt.timedelta(seconds=OVERDUE_AGAIN_S)
        with self._lock:
            self._asked[job.id] = min(at, self._asked.get(job.id, at))
        return True

    def run(self) -> None:
        """Serve requests, and look for new due times every second, until the bot stops."""
        while not self._stop.is_set():
            if not self._ring.wait(self._look_every) and self._leads():
                for job in self._jobs:
                    try:
                        self._ask(job)
                    except Exception as exc:  # the database may be briefly away
                        log.debug("could not read job %s's next due time: %s", job.id, exc)
            self._ring.clear()
            with self._lock:
                asked, self._asked = self._asked, {}
            for job_id, at in asked.items():
                self._bring_forward(job_id, at)

    def _bring_forward(self, job_id: str, at: dt.datetime) -> None:
        try:
            scheduled = self._scheduler.get_job(job_id)
            if scheduled is None or scheduled.next_run_time is None:
                return
            if at < scheduled.next_run_time:
                self._scheduler.modify_job(job_id, next_run_time=at)
        except Exception as exc:  # the scheduler is shutting down: the interval run will do
            log.debug("could not bring job %s forward: %s", job_id, type(exc).__name__)
