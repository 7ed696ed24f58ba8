"""The outbox worker: carries out queued side effects until they are done.

Retries follow the peer: `Retry-After` when given, else capped exponential backoff with full
jitter. A refusal (a 4xx other than 429) is final: the row is marked failed and logged, and the
handler has already told a human. Rows are leased, so a crashed worker's rows come back.

A burst (forty sev1 reports in a minute) queues hundreds of rows whose work is mostly waiting on
Slack, so the worker claims them in batches and carries out independent ones concurrently on a
small pool, claiming more as lanes finish rather than once the whole batch is done (a receipt
waiting on a slow Slack must not hold up the next report's page), and starting the lanes on the
way to a page before the others. Rows about the same subject (one feedback item, one alert, one
escalation) form a lane and run one after another in queue order, so a receipt is never
re-rendered out of order and a thread's notes keep theirs; rows of a slow kind (Jira creates)
share one lane per kind, which keeps their pacing. Kinds with a batch handler (a burst's pages)
run as one lane per kind, every claimed row of the kind in one call, so a thousand pages cost
one load and one write rather than a thousand of each; the batch kinds that only touch the
database (planning pages) are claimed by the thousand beside the common batch, so a burst is
planned in one call. Finished rows are marked done together, a few at a time, as they come in.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
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
BATCH = 200  # rows of the common kinds claimed and not finished at once
# Rows of the bulk kinds (batch handlers that only touch the database) claimed at once: a
# burst's thousand pages are planned in one call (one load, one write, each person's DM rendered
# once) rather than in five, each re-rendering the DMs of the one before.
BULK_BATCH = 1000
ACK_FIRST_S = 0.2  # at most this long, an idle worker waits for Slack requests to be acked
CLAIM_EVERY_S = 0.05  # while lanes run, rows that fell due are claimed at most this often
REAP_S = 0.05  # finished rows are marked done at least this often
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


_COMMON, _BULK, _SLOW = "common", "bulk", "slow"


@dataclass
class _Flight:
    """What the worker has claimed and not finished: lanes running on the pool, and rows
    waiting for an earlier run of their lane."""

    running: dict[str, tuple[Future[None], list[OutboxTask]]] = field(default_factory=dict)
    waiting: dict[str, list[OutboxTask]] = field(default_factory=dict)
    done: _Done = field(default_factory=_Done)

    def tasks(self) -> Iterator[OutboxTask]:
        """Every row claimed and not finished."""
        for _, lane in self.running.values():
            yield from lane
        for lane in self.waiting.values():
            yield from lane


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
        first_kinds: frozenset[str] = frozenset(),
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
        self._first_kinds = first_kinds
        self._concurrency = max(1, concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self.wake = wake or threading.Event()  # set by services when they queue new work
        # Slack requests being answered (HTTP mode): an idle worker lets them go first, briefly.
        self.in_flight = InFlight()
        # Kinds whose peer is down, until when: rows of them queued meanwhile wait too, so the
        # backlog drains in queue order when the peer returns (not newest-probe first).
        self._held: dict[str, dt.datetime] = {}
        self._held_lock = threading.Lock()

    def run_once(self) -> int:
        """Claim the rows due now and carry them all out; return how many were attempted."""
        flight = _Flight()
        claimed = self._claim(flight)
        while flight.running or flight.waiting:
            self._reap(flight, REAP_S)
        return claimed

    def _claim(self, flight: _Flight) -> int:
        """Lease due rows up to each class's room and start the lanes the pool has room for."""
        if not flight.running:  # a busy worker keeps the lanes it runs going meanwhile
            self.in_flight.wait_clear(ACK_FIRST_S)
        now = self._clock()
        # Three classes, each with its room: a backlog of slow, paced effects (Jira creates
        # while Jira recovers) must not keep the quick ones (Slack posts) waiting behind it,
        # and a burst of pages to plan must not crowd them out either.
        in_hand = Counter(self._class_of(task.kind) for task in flight.tasks())
        tasks: list[OutboxTask] = []
        room = self._batch - in_hand[_COMMON]
        if room > 0:
            except_kinds = self._slow_kinds | self._bulk_kinds
            tasks += self._repo.claim(now, room, self._lease, except_kinds=except_kinds)
        room = self._bulk_batch - in_hand[_BULK]
        if self._bulk_kinds and room > 0:
            tasks += self._repo.claim(now, room, self._lease, kinds=self._bulk_kinds)
        room = max(1, self._batch // 4) - in_hand[_SLOW]
        if self._slow_kinds and room > 0:
            tasks += self._repo.claim(now, room, self._lease, kinds=self._slow_kinds)
        with self._held_lock:
            self._held = {kind: until for kind, until in self._held.items() if until > now}
        for task in tasks:
            if task.kind in self._batch_handlers:
                key = f"batch:{task.kind}"
            else:
                key = lane_of(task, self._slow_kinds)
            flight.waiting.setdefault(key, []).append(task)
        self._start_ready(flight)
        return len(tasks)

    def _class_of(self, kind: str) -> str:
        if kind in self._slow_kinds:
            return _SLOW
        return _BULK if kind in self._bulk_kinds else _COMMON

    def _start_ready(self, flight: _Flight) -> None:
        """Start ready lanes (rows waiting, no earlier run of their lane still going) while
        fewer than `concurrency` run: the lanes of first kinds before the rest, each group in
        the order its rows were claimed."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="outbox")
        room = self._concurrency - len(flight.running)
        if room <= 0:
            return
        ready = [key for key in flight.waiting if key not in flight.running]
        ready.sort(key=lambda key: flight.waiting[key][0].kind not in self._first_kinds)
        for key in ready[:room]:
            lane = flight.waiting.pop(key)
            flight.running[key] = (self._pool.submit(self._run_lane, lane, flight.done), lane)

    def _reap(self, flight: _Flight, timeout: float) -> int:
        """Wait up to `timeout` for a lane to finish; mark finished rows done, start the rows
        that waited behind finished lanes, and return how many lanes finished."""
        futures = [future for future, _ in flight.running.values()]
        finished, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        for key, (future, _) in list(flight.running.items()):
            if future in finished:
                del flight.running[key]
                future.result()  # _run_lane catches what handlers raise; this re-raises a bug
        self._complete(flight.done)
        if finished:
            self._start_ready(flight)
        return len(finished)

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
        """Loop until `stop` is set, waking early when new work is enqueued.

        Claiming does not wait for everything claimed before to finish: while lanes run, rows
        that fell due meanwhile (a page planned a moment ago, its DM to send) are claimed
        every `CLAIM_EVERY_S` as room frees up, so one slow lane (a receipt while Slack is
        busy) does not hold up the rest of a burst. Rows of a lane still running wait behind it.
        """
        flight = _Flight()
        last_claim = next_claim = -math.inf
        try:
            while not stop.is_set():
                try:
                    now = time.monotonic()
                    # New work wakes an idle worker at once; a busy one claims it at its pace.
                    woken = self.wake.is_set() and (
                        not flight.running or now >= last_claim + CLAIM_EVERY_S
                    )
                    if woken or now >= next_claim:
                        self.wake.clear()
                        claimed = self._claim(flight)
                        last_claim = now
                        next_claim = now + (CLAIM_EVERY_S if claimed else idle)
                    if flight.running:
                        if self._reap(flight, REAP_S):  # their follow-ups may be due now
                            next_claim = min(next_claim, last_claim + CLAIM_EVERY_S)
                    else:
                        self.wake.wait(max(0.0, next_claim - time.monotonic()))
                except Exception:  # the database may be briefly away; keep the loop alive
                    log.exception("outbox pass failed")
                    next_claim = time.monotonic() + idle
                    stop.wait(idle)
            self._give_back(flight)
            while flight.running or flight.waiting:  # what is under way is carried out
                self._reap(flight, REAP_S)
        finally:
            self.close()

    def _give_back(self, flight: _Flight) -> None:
        """On stop, release the lanes claimed but not started, so another replica (or this one
        restarted) takes them at once instead of after their lease: in a rolling deploy during
        a burst, a stop no longer holds two minutes of pages. Rows waiting behind a lane still
        running stay: they are carried out after it, keeping their item's order."""
        idle = [key for key in flight.waiting if key not in flight.running]
        unstarted = [task for key in idle for task in flight.waiting.pop(key)]
        if not unstarted:
            return
        try:
            self._repo.release(unstarted)
        except Exception:  # the database is away: the leases run out as after a crash
            log.exception("outbox rows not given back on stop; they return after their lease")
            return
        log.info("stopping: %d claimed outbox rows given back unstarted", len(unstarted))

    def close(self) -> None:
        """Let the pool's threads go (rows in flight finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
