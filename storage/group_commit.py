"""Group commit: concurrent writers share one transaction instead of queueing for one each.

In an outage a hundred people submit the form in the same seconds, and every submission must be
stored before Slack hears its ack. SQLite has one writer, so one transaction per report puts
each behind all the others and behind the outbox: the last one waits for them all. Here a
writer writes everything queued by then in one transaction, and whatever is queued meanwhile
goes in the next one, so a burst costs a few transactions, not a hundred. Each caller returns
only once its own row is committed (nothing is acked that is not stored), or, after its wait
limit, with TimeoutError while its row is still written later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 100


class GroupCommit(Generic[T, R]):
    """Writes items in batches through `write`, one batch at a time, in arrival order.

    `write` takes a batch and returns one result per item: a value, or an exception that item
    raises to its caller. An exception `write` itself raises (the database is away) goes to
    every caller of the batch. Batches are written by a writer thread started when items wait
    and none is running, so a caller can stop waiting after `wait_limit` seconds (SQLite locked
    by another process for longer than Slack waits for an ack): it hears `TimeoutError`, and its
    item is still written when the database lets it, exactly once.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R | Exception]],
        max_batch: int = MAX_BATCH,
        wait_limit: float | None = None,
    ) -> None:
        self._write = write
        self._max = max_batch
        self._wait_limit = wait_limit
        self._cond = threading.Condition()
        self._queue: list[tuple[T, Future[R]]] = []
        self._writing = False

    def submit(self, item: T) -> R:
        """Write `item` (in a batch with whatever else is waiting); return its result."""
        future: Future[R] = Future()
        with self._cond:
            self._queue.append((item, future))
            if not self._writing:
                self._writing = True
                threading.Thread(target=self._drain, name="group-commit", daemon=True).start()
        try:
            return future.result(timeout=self._wait_limit)
        except FutureTimeout:
            raise TimeoutError(f"not written within {self._wait_limit} s; it will be") from None

    def _drain(self) -> None:
        """Write batches until nothing waits."""
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        return
                    batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                self._write_batch(batch)
        finally:
            with self._cond:
                self._writing = False  # (after an interrupt, the next caller starts another)

    def _write_batch(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            results = self._write([item for item, _ in batch])
        except BaseException as error:
            # Every caller of the batch hears of it, even of an interrupt: their items left the
            # queue with this batch, so nobody else would ever write them.
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
