"""The job waker: a job keeping due times runs when its next one comes, not an interval later."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.app.waker import JobWaker
from bot.parts import Job
from tests.support import wait_until


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    """A running background scheduler, shut down after the test."""
    running = BackgroundScheduler()
    running.start()
    yield running
    if running.running:
        running.shutdown(wait=False)


def schedule(scheduler: BackgroundScheduler, job: Job, waker: JobWaker) -> None:
    """Schedule `job` as the runtime does: its interval, and the waker asked after each run."""

    def run() -> None:
        job.run()
        waker.after_run(job)

    scheduler.add_job(run, "interval", seconds=job.every_seconds, id=job.id, max_instances=1)


def test_a_job_runs_again_at_its_next_due_time_not_an_interval_later(
    scheduler: BackgroundScheduler,
) -> None:
    """With an hour's interval, a job that says its next work is 0.2 s away runs again soon."""
    runs: list[int] = []
    job = Job("tick", lambda: runs.append(1), 3600, next_in=lambda: 0.2 if len(runs) < 3 else None)
    stop = threading.Event()
    waker = JobWaker(scheduler, [job], leads=lambda: True, stop=stop)
    thread = threading.Thread(target=waker.run, daemon=True)
    thread.start()
    try:
        schedule(scheduler, job, waker)
        scheduler.modify_job("tick", next_run_time=_now())
        wait_until(lambda: len(runs) >= 3, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=5)


def test_the_leader_notices_due_times_stored_between_runs(scheduler: BackgroundScheduler) -> None:
    """A due time stored after the job last ran (another replica's start) is seen within a
    second on the replica that leads, and only there."""
    runs: list[int] = []
    due_in: list[float | None] = [None]
    job = Job("tick", lambda: runs.append(1), 3600, next_in=lambda: due_in[0])
    stop = threading.Event()
    leading = threading.Event()
    waker = JobWaker(scheduler, [job], leads=leading.is_set, stop=stop, look_every=0.05)
    schedule(scheduler, job, waker)
    thread = threading.Thread(target=waker.run, daemon=True)
    thread.start()
    try:
        due_in[0] = 0.1
        asked = threading.Event()
        original = scheduler.modify_job

        def spy(*args: object, **kwargs: object) -> object:
            asked.set()
            return original(*args, **kwargs)  # type: ignore[arg-type]

        scheduler.modify_job = spy  # type: ignore[method-assign]
        assert not asked.wait(0.5) and runs == []  # not leading: nothing is brought forward
        leading.set()
        wait_until(lambda: runs, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=5)


def test_shutting_down_while_a_job_runs_does_not_hang(scheduler: BackgroundScheduler) -> None:
    """The job's thread never calls the scheduler, so a shutdown waiting for it finishes."""
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)

    job = Job("tick", slow, 3600, next_in=lambda: 0.5)
    stop = threading.Event()
    waker = JobWaker(scheduler, [job], leads=lambda: True, stop=stop)
    schedule(scheduler, job, waker)
    scheduler.modify_job("tick", next_run_time=_now())
    assert started.wait(5)
    done = threading.Event()

    def shut_down() -> None:
        scheduler.shutdown(wait=True)  # holds the job store lock while the job finishes
        done.set()

    threading.Thread(target=shut_down, daemon=True).start()
    release.set()  # the job ends now and asks the waker (not the scheduler) for its next run
    assert done.wait(5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_work_that_fell_due_during_a_run_runs_again_at_once_but_never_spins(
    scheduler: BackgroundScheduler,
) -> None:
    """A job whose next due time passed while it ran runs again right away; the same overdue
    time seen again (work another transaction holds) is left to the interval."""
    runs: list[float] = []
    due = time.time() - 0.5  # fell due while the first run ran, and stays due
    job = Job("tick", lambda: runs.append(time.time()), 3600, next_in=lambda: due - time.time())
    stop = threading.Event()
    looks: list[int] = []

    def leads() -> bool:
        looks.append(1)
        return True

    waker = JobWaker(scheduler, [job], leads=leads, stop=stop, look_every=0.05)
    schedule(scheduler, job, waker)
    thread = threading.Thread(target=waker.run, daemon=True)
    thread.start()
    try:
        scheduler.modify_job("tick", next_run_time=_now())
        wait_until(lambda: len(runs) >= 2, timeout=10)
        seen = len(looks)
        wait_until(lambda: len(looks) >= seen + 5, timeout=10)
        assert len(runs) == 2
    finally:
        stop.set()
        thread.join(timeout=5)
