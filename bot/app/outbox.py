"""The outbox worker: carries out queued side effects until they are done.

Retries follow the peer: `Retry-After` when given, else capped exponential backoff with full
jitter. A refusal (a 4xx other than 429) is final: the row is marked failed and logged, and the
handler has already told a human. Rows are leased, so a crashed worker's rows come back.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence

from bot.domain import Effect
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.ports import Clock
from storage.repositories import OutboxRepository, OutboxTask

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, object]], Sequence[Effect]]

BACKOFF_BASE = dt.timedelta(seconds=2)
BACKOFF_CAP = dt.timedelta(minutes=10)
LEASE = dt.timedelta(minutes=2)


def backoff(attempts: int, rng: random.Random) -> dt.timedelta:
    """Return the wait before retry number `attempts` (1-based): full jitter, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(attempts - 1, 20)))
    return ceiling * rng.random()


class OutboxWorker:
    """Claims due outbox rows and runs the handler of each row's kind."""

    def __init__(
        self,
        *,
        repo: OutboxRepository,
        handlers: Mapping[str, Handler],
        clock: Clock,
        rng: random.Random | None = None,
        batch: int = 20,
        wake: threading.Event | None = None,
        lease: dt.timedelta = LEASE,
        slow_kinds: frozenset[str] = frozenset(),
    ) -> None:
        self._repo = repo
        self._handlers = handlers
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._batch = batch
        # Longer than any one side effect can take (timeouts included): a row whose worker
        # died comes back after it.
        self._lease = lease
        self._slow_kinds = slow_kinds
        self.wake = wake or threading.Event()  # set by services when they queue new work
        # Kinds whose peer is down, until when: rows of them queued meanwhile wait too, so the
        # backlog drains in queue order when the peer returns (not newest-probe first).
        self._held: dict[str, dt.datetime] = {}

    def run_once(self) -> int:
        """Carry out rows due now, quick kinds first; return how many were attempted."""
        now = self._clock()
        # Two lanes: a backlog of slow, paced effects (Jira creates while Jira recovers) must
        # not keep the quick ones (Slack posts) waiting behind it.
        tasks = self._repo.claim(now, self._batch, self._lease, except_kinds=self._slow_kinds)
        if self._slow_kinds:
            slow_batch = max(1, self._batch // 4)
            tasks += self._repo.claim(now, slow_batch, self._lease, kinds=self._slow_kinds)
        self._held = {kind: until for kind, until in self._held.items() if until > now}
        for task in tasks:
            if task.kind in self._held:  # its peer is down: wait for the probe after the hold
                held_until = self._held[task.kind]
                self._repo.retry_at(
                    task.id, held_until, "held back: peer unavailable", counted=False
                )
                continue
            until = self._run(task)
            if until is not None:
                self._held[task.kind] = until
                self._repo.hold_kind(task.kind, until)
        return len(tasks)

    def _run(self, task: OutboxTask) -> dt.datetime | None:
        """Run one task; return a time to hold its kind back to when its peer is down."""
        handler = self._handlers.get(task.kind)
        if handler is None:
            log.error("outbox row %s has unknown kind %s", task.id, task.kind)
            self._repo.fail(task.id, f"unknown kind {task.kind}", self._clock())
            return None
        try:
            effects = handler(task.payload)
        except DeliveryDeferred as deferred:
            if deferred.waiting:
                wait = dt.timedelta(seconds=deferred.retry_after or 1.0)
                self._repo.retry_at(task.id, self._clock() + wait, deferred.reason, counted=False)
                return None
            wait = backoff(task.attempts, self._rng)
            if deferred.retry_after is not None:
                wait = max(wait, dt.timedelta(seconds=deferred.retry_after))
            log.warning(
                "%s (row %s) deferred, attempt %s, retry in %.1fs: %s",
                task.kind,
                task.id,
                task.attempts,
                wait.total_seconds(),
                deferred.reason,
            )
            self._repo.retry_at(task.id, self._clock() + wait, deferred.reason)
            return self._clock() + wait if deferred.peer_down else None
        except DeliveryRefused as refused:
            log.error("%s (row %s) refused for good: %s", task.kind, task.id, refused.reason)
            self._repo.fail(task.id, refused.reason, self._clock(), refused.then)
        except Exception as exc:  # a bug must not stop the queue; retry as if deferred
            wait = backoff(task.attempts, self._rng)
            log.exception(
                "%s (row %s) crashed; retry in %.1fs", task.kind, task.id, wait.total_seconds()
            )
            self._repo.retry_at(task.id, self._clock() + wait, f"{type(exc).__name__}")
        else:
            self._repo.complete(task.id, self._clock(), effects)
        return None

    def run_forever(self, stop: threading.Event, idle: float = 1.0) -> None:
        """Loop until `stop` is set, waking early when new work is enqueued."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database may be briefly away; keep the loop alive
                log.exception("outbox pass failed")
                busy = 0
            if not busy:
                self.wake.wait(idle)
                self.wake.clear()
