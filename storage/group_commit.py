"""Group commit: concurrent writers share one transaction instead of queueing for one each.

In an outage a hundred people submit the form in the same seconds, and every submission must be
stored before Slack hears its ack. SQLite has one writer, so one transaction per report puts
each behind all the others and behind the outbox: the last one waits for them all. Here the
first writer to arrive writes everything queued by then in one transaction, and whoever queued
meanwhile is written by the next one, so a burst costs a few transactions, not a hundred. Each
caller still returns only once its own row is committed: nothing is acked that is not stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 100


class GroupCommit(Generic[T, R]):
    """Writes items in batches through `write`, one batch at a time, in arrival order.

    `write` takes a batch and returns one result per item: a value, or an exception that item
    raises to its caller. An exception `write` itself raises (the database is away) goes to
    every caller of the batch.
    """

    def __init__(
        self, write: Callable[[Sequence[T]], Sequence[R | Exception]], max_batch: int = MAX_BATCH
    ) -> None:
        self._write = write
        self._max = max_batch
        self._cond = threading.Condition()
        self._queue: list[tuple[T, Future[R]]] = []
        self._writing = False

    def submit(self, item: T) -> R:
        """Write `item` (in a batch with whatever else is waiting); return its result."""
        future: Future[R] = Future()
        with self._cond:
            self._queue.append((item, future))
        while True:
            with self._cond:
                while self._writing and not future.done():
                    self._cond.wait()
                if future.done():
                    return future.result()
                self._writing = True  # this caller writes the next batch, its own item in it
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                self._write_batch(batch)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()

    def _write_batch(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            results = self._write([item for item, _ in batch])
        except BaseException as error:
            # Every caller of the batch hears of it, even of an interrupt: their items left the
            # queue with this batch, so nobody else would ever write them.
            for _, future in batch:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
