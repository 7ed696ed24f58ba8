"""The outbox worker: carries out queued side effects until they are done.

Retries follow the peer: `Retry-After` when given, else capped exponential backoff with full
jitter. A refusal (a 4xx other than 429) is final: the row is marked failed and logged, and the
handler has already told a human. Rows are leased, so a crashed worker's rows come back.

A burst (forty sev1 reports in a minute) queues hundreds of rows whose work is mostly waiting
on Slack, so the worker claims them in batches and carries out independent ones concurrently on
a small pool. Rows about the same subject (one feedback item, one alert, one escalation) form a
lane and run one after another in queue order, so a receipt is never re-rendered out of order
and a thread's notes keep theirs; rows of a slow kind (Jira creates) share one lane per kind,
which keeps their pacing. Kinds with a batch handler (a burst's pages) run as one lane per
kind, every claimed row of the kind in one call, so a thousand pages cost one load and one write
rather than a thousand of each; the batch kinds that only touch the database (planning pages)
are claimed by the thousand beside the common batch, so a burst is planned in one call. Finished
rows are marked done together, a few at a time, as they come in.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from bot.app.http import InFlight
from bot.domain import Effect
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.parts import BatchHandler, Outcome, delivery_attempt
from bot.ports import Clock
from storage.repositories import OutboxRepository, OutboxTask

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, object]], Sequence[Effect]]

BACKOFF_BASE = dt.timedelta(seconds=2)
BACKOFF_CAP = dt.timedelta(minutes=10)
LEASE = dt.timedelta(minutes=2)
CONCURRENCY = 8  # Slack calls in flight at once: well inside its per-method rate tiers
BATCH = 200  # rows claimed a pass: a burst's pages go to their batch handler a pass at a time
# Rows of a bulk kind (a batch handler that only touches the database) claimed a pass: a
# burst's thousand pages are planned in one call (one load, one write, each person's DM rendered
# once) rather than in five, each re-rendering the DMs of the one before.
BULK_BATCH = 1000
ACK_FIRST_S = 0.2  # at most this long per pass, the worker waits for Slack requests to be acked
# The payload fields naming the subject a row is about: its lane. Rows naming none share a lane
# per kind (digests, hand-offs), which is how they ran before there were lanes.
SUBJECT_FIELDS = ("feedback_id", "alert_id", "escalation_id", "page_group_id")


def lane_of(task: OutboxTask, slow_kinds: frozenset[str]) -> str:
    """The lane a row runs in: rows of one lane run one after another, in queue order."""
    if task.kind in slow_kinds:
        return f"kind:{task.kind}"
    for name in SUBJECT_FIELDS:
        value = task.payload.get(name)
        if isinstance(value, int | str) and not isinstance(value, bool):
            return f"{name}:{value}"
    return f"kind:{task.kind}"


@dataclass
class _Done:
    """Rows carried out, waiting to be marked done in one transaction."""

    rows: list[tuple[int, Sequence[Effect]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, task_id: int, effects: Sequence[Effect]) -> None:
        with self.lock:
            self.rows.append((task_id, effects))

    def take(self) -> list[tuple[int, Sequence[Effect]]]:
        with self.lock:
            rows, self.rows = self.rows, []
            return rows


def backoff(attempts: int, rng: random.Random) -> dt.timedelta:
    """Return the wait before retry number `attempts` (1-based): full jitter, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(attempts - 1, 20)))
    return ceiling * rng.random()


class OutboxWorker:
    """Claims due outbox rows and runs the handler of each row's kind, lanes concurrently."""

    def __init__(
        self,
        *,
        repo: OutboxRepository,
        handlers: Mapping[str, Handler],
        clock: Clock,
        rng: random.Random | None = None,
        batch: int = BATCH,
        wake: threading.Event | None = None,
        lease: dt.timedelta = LEASE,
        slow_kinds: frozenset[str] = frozenset(),
        concurrency: int = CONCURRENCY,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        bulk_kinds: frozenset[str] = frozenset(),
        bulk_batch: int = BULK_BATCH,
    ) -> None:
        self._repo = repo
        self._handlers = handlers
        self._batch_handlers = dict(batch_handlers or {})
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._batch = batch
        # Longer than any one side effect can take (timeouts included): a row whose worker
        # died comes back after it.
        self._lease = lease
        self._slow_kinds = slow_kinds
        unbatched = bulk_kinds - self._batch_handlers.keys()
        if unbatched:
            raise ValueError(f"bulk kinds without a batch handler: {sorted(unbatched)}")
        self._bulk_kinds = bulk_kinds - slow_kinds
        self._bulk_batch = bulk_batch
        self._concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self.wake = wake or threading.Event()  # set by services when they queue new work
        # Slack requests being answered (HTTP mode): each pass lets them go first, briefly.
        self.in_flight = InFlight()
        # Kinds whose peer is down, until when: rows of them queued meanwhile wait too, so the
        # backlog drains in queue order when the peer returns (not newest-probe first).
        self._held: dict[str, dt.datetime] = {}
        self._held_lock = threading.Lock()

    def run_once(self) -> int:
        """Carry out rows due now, quick kinds first; return how many were attempted."""
        self.in_flight.wait_clear(ACK_FIRST_S)
        now = self._clock()
        # Two lanes: a backlog of slow, paced effects (Jira creates while Jira recovers) must
        # not keep the quick ones (Slack posts) waiting behind it.
        tasks = self._repo.claim(
            now, self._batch, self._lease, except_kinds=self._slow_kinds | self._bulk_kinds
        )
        if self._bulk_kinds:
            tasks += self._repo.claim(now, self._bulk_batch, self._lease, kinds=self._bulk_kinds)
        if self._slow_kinds:
            slow_batch = max(1, self._batch // 4)
            tasks += self._repo.claim(now, slow_batch, self._lease, kinds=self._slow_kinds)
        with self._held_lock:
            self._held = {kind: until for kind, until in self._held.items() if until > now}
        lanes: dict[str, list[OutboxTask]] = {}
        for task in tasks:
            if task.kind in self._batch_handlers:
                key = f"batch:{task.kind}"
            else:
                key = lane_of(task, self._slow_kinds)
            lanes.setdefault(key, []).append(task)
        done = _Done()
        if len(lanes) <= 1 or self._concurrency == 1:
            for lane in lanes.values():
                self._run_lane(lane, done)
        else:
            self._run_concurrently(list(lanes.values()), done)
        self._complete(done)
        return len(tasks)

    def _run_concurrently(self, lanes: list[list[OutboxTask]], done: _Done) -> None:
        """Run the lanes on the pool, marking rows done in batches as lanes finish."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="outbox")
        pending: set[Future[None]] = {
            self._pool.submit(self._run_lane, lane, done) for lane in lanes
        }
        while pending:
            finished, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # _run_lane catches what handlers raise; this re-raises a bug
            self._complete(done)

    def _run_lane(self, lane: Sequence[OutboxTask], done: _Done) -> None:
        batch = self._batch_handlers.get(lane[0].kind) if lane else None
        if batch is not None:
            self._run_batch(batch, lane, done)
            return
        for n, task in enumerate(lane):
            if n:
                # Record what the lane carried out before its next row starts: a crash during
                # that row's call (held up to its timeout) must not repeat a message already sent.
                self._complete(done)
            if self._may_run(task):
                self._hold(task.kind, self._run(task, done))

    def _may_run(self, task: OutboxTask) -> bool:
        """Whether the row is still this worker's and its peer is not held back."""
        if not self._still_ours(task):
            log.warning(
                "outbox row %s (%s) outlived its lease: left to its new taker", task.id, task.kind
            )
            return False
        with self._held_lock:
            held_until = self._held.get(task.kind)
        if held_until is not None:  # its peer is down: wait for the probe after the hold
            self._repo.retry_at(task.id, held_until, "held back: peer unavailable", counted=False)
            return False
        return True

    def _hold(self, kind: str, until: dt.datetime | None) -> None:
        if until is not None:
            with self._held_lock:
                self._held[kind] = until
            self._repo.hold_kind(kind, until)

    def _run_batch(self, handler: BatchHandler, lane: Sequence[OutboxTask], done: _Done) -> None:
        """Hand every runnable row of the lane to its kind's batch handler in one call."""
        tasks = [task for task in lane if self._may_run(task)]
        if not tasks:
            return
        outcomes: Sequence[Outcome]
        try:
            outcomes = handler([task.payload for task in tasks])
            if len(outcomes) != len(tasks):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(tasks)} rows")
        except Exception as exc:  # the whole batch failed (the database, a bug): retry each
            outcomes = [exc] * len(tasks)
        holds = [
            self._settle(task, outcome, done) for task, outcome in zip(tasks, outcomes, strict=True)
        ]
        self._hold(tasks[0].kind, max((h for h in holds if h is not None), default=None))

    def _still_ours(self, task: OutboxTask) -> bool:
        """Renew the lease of a row that waited in its lane for half of it; False if it ran
        out and another worker (another replica) took the row meanwhile."""
        if task.leased_until is None:
            return True
        now = self._clock()
        if now < task.leased_until - self._lease / 2:
            return True  # most rows start within moments of their claim: nothing to write
        return self._repo.renew(task, now + self._lease)

    def _complete(self, done: _Done) -> None:
        rows = done.take()
        if rows:
            self._repo.complete_many(rows, self._clock())

    def _run(self, task: OutboxTask, done: _Done) -> dt.datetime | None:
        """Run one task; return a time to hold its kind back to when its peer is down."""
        handler = self._handlers.get(task.kind)
        if handler is None:
            log.error("outbox row %s has unknown kind %s", task.id, task.kind)
            self._repo.fail(task.id, f"unknown kind {task.kind}", self._clock())
            return None
        outcome: Outcome
        attempt = delivery_attempt.set(task.attempts)
        try:
            outcome = handler(task.payload)
        except Exception as exc:
            outcome = exc
        finally:
            delivery_attempt.reset(attempt)
        return self._settle(task, outcome, done)

    def _settle(self, task: OutboxTask, outcome: Outcome, done: _Done) -> dt.datetime | None:
        """Record what became of one row; return a time to hold its kind back to, if any."""
        if isinstance(outcome, DeliveryDeferred):
            deferred = outcome
            if deferred.waiting:
                wait_for = dt.timedelta(seconds=deferred.retry_after or 1.0)
                self._repo.retry_at(
                    task.id, self._clock() + wait_for, deferred.reason, counted=False
                )
                return None
            wait_for = backoff(task.attempts, self._rng)
            if deferred.retry_after is not None:
                wait_for = max(wait_for, dt.timedelta(seconds=deferred.retry_after))
            log.warning(
                "%s (row %s) deferred, attempt %s, retry in %.1fs: %s",
                task.kind,
                task.id,
                task.attempts,
                wait_for.total_seconds(),
                deferred.reason,
            )
            self._repo.retry_at(task.id, self._clock() + wait_for, deferred.reason)
            return self._clock() + wait_for if deferred.peer_down else None
        if isinstance(outcome, DeliveryRefused):
            log.error("%s (row %s) refused for good: %s", task.kind, task.id, outcome.reason)
            self._repo.fail(task.id, outcome.reason, self._clock(), outcome.then)
        elif isinstance(outcome, Exception):  # a bug must not stop the queue; retry as if deferred
            wait_for = backoff(task.attempts, self._rng)
            log.error(
                "%s (row %s) crashed; retry in %.1fs",
                task.kind,
                task.id,
                wait_for.total_seconds(),
                exc_info=outcome,
            )
            self._repo.retry_at(task.id, self._clock() + wait_for, f"{type(outcome).__name__}")
        else:
            done.add(task.id, outcome)
        return None

    def run_forever(self, stop: threading.Event, idle: float = 1.0) -> None:
        """Loop until `stop` is set, waking early when new work is enqueued."""
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                except Exception:  # the database may be briefly away; keep the loop alive
                    log.exception("outbox pass failed")
                    busy = 0
                if not busy:
                    self.wake.wait(idle)
                    self.wake.clear()
        finally:
            self.close()

    def close(self) -> None:
        """Let the pool's threads go (rows in flight finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
