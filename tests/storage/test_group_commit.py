"""Group commit: concurrent writers share transactions, and each gets its own result."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from storage.group_commit import GroupCommit


def run_concurrently(commit: GroupCommit[int, int], items: Sequence[int]) -> dict[int, object]:
    """Submit every item from its own thread at once; each item's result or exception."""
    results: dict[int, object] = {}
    start = threading.Barrier(len(items))

    def submit(item: int) -> None:
        start.wait()
        try:
            results[item] = commit.submit(item)
        except Exception as error:
            results[item] = error

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_a_burst_is_written_in_a_few_batches_each_caller_getting_its_own_result() -> None:
    """Forty writers at once: every item written once, in far fewer batches than items."""
    batches: list[list[int]] = []
    release = threading.Event()

    def write(batch: Sequence[int]) -> list[int | Exception]:
        batches.append(list(batch))
        release.wait(0.05)  # a transaction takes a while: the others queue meanwhile
        return [item * 10 for item in batch]

    results = run_concurrently(GroupCommit(write), list(range(40)))
    assert results == {item: item * 10 for item in range(40)}
    written = [item for batch in batches for item in batch]
    assert sorted(written) == list(range(40))  # each once
    assert len(batches) < 10


def test_an_item_that_fails_fails_alone_and_a_failed_batch_fails_all_of_it() -> None:
    """A per-item exception reaches that caller only; a write that raises reaches its batch."""

    def write(batch: Sequence[int]) -> list[int | Exception]:
        if 99 in batch:
            raise ConnectionError("database away")
        return [ValueError(f"bad {item}") if item == 3 else item for item in batch]

    commit: GroupCommit[int, int] = GroupCommit(write)
    assert commit.submit(1) == 1
    with pytest.raises(ValueError, match="bad 3"):
        commit.submit(3)
    with pytest.raises(ConnectionError):
        commit.submit(99)
    assert commit.submit(2) == 2  # the writer is free again after a failed batch


def test_batches_respect_their_cap() -> None:
    """No batch holds more than `max_batch` items, however many wait."""
    sizes: list[int] = []

    def write(batch: Sequence[int]) -> list[int | Exception]:
        sizes.append(len(batch))
        threading.Event().wait(0.02)
        return list(batch)

    results = run_concurrently(GroupCommit(write, max_batch=4), list(range(30)))
    assert results == {item: item for item in range(30)}
    assert max(sizes) <= 4


class _Interrupt(BaseException):
    """Stands in for KeyboardInterrupt or SystemExit inside a write."""


def test_an_interrupted_write_still_answers_every_caller_and_frees_the_writer() -> None:
    """A write interrupted by a BaseException reaches its caller, and the next write works."""

    def write(batch: Sequence[int]) -> list[int | Exception]:
        if 0 in batch:
            raise _Interrupt
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(_Interrupt):
        commit.submit(0)
    assert commit.submit(5) == 5


def test_a_caller_stops_waiting_at_its_limit_and_its_item_is_still_written_once() -> None:
    """While the database holds the write up, a caller hears TimeoutError at its wait limit;
    the item is written once the write can go on, and the next caller is served."""
    release = threading.Event()
    written: list[int] = []

    def write(batch: Sequence[int]) -> list[int | Exception]:
        release.wait(10)
        written.extend(batch)
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(write, wait_limit=0.2)
    with pytest.raises(TimeoutError):
        commit.submit(1)
    release.set()
    assert commit.submit(2) == 2
    assert written == [1, 2]
