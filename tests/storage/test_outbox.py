"""The outbox worker over a real database: retries, refusals, leases and exactly-once claims."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from bot.app.http import InFlight
from bot.app.outbox import BACKOFF_CAP, OutboxWorker, backoff
from bot.domain import Effect
from bot.errors import DeliveryDeferred, DeliveryRefused
from storage import db
from storage.repositories import OutboxRepository

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
T = TypeVar("T")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def setup(database_url: str) -> OutboxRepository:
    """A migrated database and its outbox repository."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    return OutboxRepository(db.make_sessions(engine))


def enqueue(repo: OutboxRepository, *keys: str, kind: str = "test.effect") -> None:
    """Queue effects, as a service transaction would."""
    repo.enqueue([Effect(kind, {"key": k}, k) for k in keys], T0)


def test_backoff_is_jittered_and_capped() -> None:
    """Waits grow exponentially, never exceed the cap and are never negative."""
    rng = random.Random(7)
    waits = [backoff(n, rng) for n in range(1, 40)]
    assert all(dt.timedelta(0) <= w <= BACKOFF_CAP for w in waits)
    assert max(backoff(1, random.Random(s)) for s in range(50)) <= dt.timedelta(seconds=2)


def test_deferred_effects_wait_for_retry_after_then_succeed(database_url: str) -> None:
    """A rate-limited effect is not retried before Retry-After, then runs once."""
    repo = setup(database_url)
    enqueue(repo, "a")
    clock, calls = Clock(), []

    def handler(payload: dict[str, object]) -> Sequence[Effect]:
        calls.append(clock.now)
        if len(calls) == 1:
            raise DeliveryDeferred("rate limited", retry_after=30)
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": handler}, clock=clock)
    assert worker.run_once() == 1
    clock.now = T0 + dt.timedelta(seconds=29)
    assert worker.run_once() == 0
    clock.now = T0 + dt.timedelta(seconds=31)
    assert worker.run_once() == 1
    assert repo.rows() == [("test.effect", "done", 2, "rate limited")]
    assert len(calls) == 2


def test_refused_effects_fail_for_good_and_queue_their_follow_ups(database_url: str) -> None:
    """A refusal marks the row failed, never retries it, and queues what tells a human."""
    repo = setup(database_url)
    enqueue(repo, "a")
    tell = Effect("test.tell", {}, "tell:a")
    told: list[object] = []

    def refuse(payload: dict[str, object]) -> Sequence[Effect]:
        raise DeliveryRefused("channel_not_found", then=[tell])

    handlers = {"test.effect": refuse, "test.tell": lambda p: told.append(p) or []}
    worker = OutboxWorker(repo=repo, handlers=handlers, clock=Clock())
    worker.run_once()
    worker.run_once()
    assert repo.rows() == [
        ("test.effect", "failed", 1, "channel_not_found"),
        ("test.tell", "done", 1, None),
    ]
    assert len(told) == 1 and worker.run_once() == 0


def test_a_crashing_handler_is_retried_not_dropped(database_url: str) -> None:
    """A bug in a handler keeps the row pending for a later retry."""
    repo = setup(database_url)
    enqueue(repo, "a")

    def crash(payload: dict[str, object]) -> Sequence[Effect]:
        raise KeyError("oops")

    clock = Clock()
    OutboxWorker(repo=repo, handlers={"test.effect": crash}, clock=clock).run_once()
    assert repo.rows() == [("test.effect", "pending", 1, "KeyError")]
    assert repo.pending_count() == 1


def test_enqueueing_the_same_key_twice_is_a_no_op(database_url: str) -> None:
    """The idempotency key makes a repeated enqueue harmless."""
    repo = setup(database_url)
    enqueue(repo, "a")
    enqueue(repo, "a")
    assert len(repo.rows()) == 1


def test_leased_rows_are_not_claimed_twice(database_url: str) -> None:
    """A row leased by one worker is invisible to another until the lease ends."""
    repo = setup(database_url)
    enqueue(repo, "a")
    lease = dt.timedelta(minutes=2)
    assert len(repo.claim(T0, 10, lease)) == 1
    assert repo.claim(T0 + dt.timedelta(minutes=1), 10, lease) == []
    again = repo.claim(T0 + dt.timedelta(minutes=3), 10, lease)  # the first worker died
    assert len(again) == 1 and again[0].attempts == 2


def test_concurrent_workers_run_each_effect_exactly_once(database_url: str) -> None:
    """Four workers racing over 200 effects run every one of them exactly once."""
    repo = setup(database_url)
    enqueue(repo, *[f"k{i}" for i in range(200)])
    seen: list[object] = []
    lock = threading.Lock()

    def record(payload: dict[str, object]) -> Sequence[Effect]:
        with lock:
            seen.append(payload["key"])
        return []

    def drain() -> None:
        worker = OutboxWorker(repo=repo, handlers={"test.effect": record}, clock=Clock(), batch=7)
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(seen) == sorted(f"k{i}" for i in range(200))
    assert repo.pending_count() == 0


def test_waiting_for_a_dependency_neither_counts_nor_backs_off(database_url: str) -> None:
    """A task waiting for something else is retried after exactly its wait, attempts unchanged."""
    repo = setup(database_url)
    enqueue(repo, "a")
    clock, calls = Clock(), []

    def handler(payload: dict[str, object]) -> Sequence[Effect]:
        calls.append(clock.now)
        if len(calls) < 4:
            raise DeliveryDeferred("receipt not posted yet", 1.0, waiting=True)
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": handler}, clock=clock)
    for second in range(4):
        clock.now = T0 + dt.timedelta(seconds=second)
        assert worker.run_once() == 1
    assert repo.rows() == [("test.effect", "done", 1, "receipt not posted yet")]


def test_a_peer_down_holds_its_whole_queue_and_it_drains_in_order(database_url: str) -> None:
    """When the peer is down, one probe runs per wait; when it is back, rows run oldest first."""
    repo = setup(database_url)
    enqueue(repo, *[f"k{i}" for i in range(5)])
    clock, up, seen = Clock(), False, []
    calls = 0

    def handler(payload: dict[str, object]) -> Sequence[Effect]:
        nonlocal calls
        calls += 1
        if not up:
            raise DeliveryDeferred("Jira search: ConnectError", 10, peer_down=True)
        seen.append(payload["key"])
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": handler}, clock=clock)
    worker.run_once()  # the first row probes; the other four are held back unattempted
    enqueue(repo, "k5")  # a new row arriving while the peer is down joins the back of the queue
    worker.run_once()  # k5 waits for the hold too: it must not probe (and jump the queue)
    assert seen == [] and calls == 1
    clock.now = T0 + dt.timedelta(seconds=11)
    up = True
    while worker.run_once():
        pass
    assert seen == [f"k{i}" for i in range(6)]


def test_quick_effects_do_not_wait_behind_a_slow_backlog(database_url: str) -> None:
    """With 50 slow rows due first, a quick row queued later still runs in the first pass."""
    repo = setup(database_url)
    enqueue(repo, *[f"slow{i}" for i in range(50)], kind="test.slow")
    repo.enqueue([Effect("test.quick", {"key": "quick"}, "quick")], T0 + dt.timedelta(seconds=1))
    seen: list[object] = []

    def record(payload: dict[str, object]) -> Sequence[Effect]:
        seen.append(payload["key"])
        return []

    clock = Clock()
    clock.now = T0 + dt.timedelta(seconds=2)
    worker = OutboxWorker(
        repo=repo,
        handlers={"test.slow": record, "test.quick": record},
        clock=clock,
        batch=20,
        slow_kinds=frozenset({"test.slow"}),
    )
    worker.run_once()
    assert "quick" in seen and len(seen) <= 1 + 20 // 4  # the slow lane takes a quarter batch


def test_rows_about_different_subjects_run_concurrently(database_url: str) -> None:
    """Three items' rows are in flight at once: each handler waits for the other two."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": i}, f"k{i}") for i in range(3)], T0)
    together = threading.Barrier(3, timeout=10)

    def meet(payload: dict[str, object]) -> Sequence[Effect]:
        together.wait()  # raises BrokenBarrierError (a retry) unless all three run at once
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": meet}, clock=Clock())
    try:
        assert worker.run_once() == 3
    finally:
        worker.close()
    assert repo.rows() == [("test.effect", "done", 1, None)] * 3


def test_rows_about_one_subject_run_one_at_a_time_in_queue_order(database_url: str) -> None:
    """An item's rows never overlap and keep their order, while another item's run beside them."""
    repo = setup(database_url)
    effects = [Effect("test.effect", {"feedback_id": i % 2, "n": i}, f"k{i}") for i in range(10)]
    repo.enqueue(effects, T0)
    lock = threading.Lock()
    running: dict[object, int] = {0: 0, 1: 0}
    overlapped: list[object] = []
    order: list[tuple[object, object]] = []

    def record(payload: dict[str, object]) -> Sequence[Effect]:
        subject = payload["feedback_id"]
        with lock:
            running[subject] += 1
            if running[subject] > 1:
                overlapped.append(subject)
        threading.Event().wait(0.02)
        with lock:
            running[subject] -= 1
            order.append((subject, payload["n"]))
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": record}, clock=Clock())
    try:
        assert worker.run_once() == 10
    finally:
        worker.close()
    assert overlapped == []
    assert [n for s, n in order if s == 0] == [0, 2, 4, 6, 8]
    assert [n for s, n in order if s == 1] == [1, 3, 5, 7, 9]


class Holding:
    """A handler recording each row's "n" that holds the row named `held` until released."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.ran: list[object] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, payload: dict[str, object]) -> Sequence[Effect]:
        self.ran.append(payload["n"])
        if payload["n"] == self.held:
            self.started.set()
            assert self.release.wait(10)
        return []


def running_worker(worker: OutboxWorker) -> tuple[threading.Event, threading.Thread]:
    """The worker's loop on a thread of its own, as the bot runs it; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.05), daemon=True)
    thread.start()
    return stop, thread


def test_a_slow_lane_does_not_hold_up_rows_that_fall_due_meanwhile(database_url: str) -> None:
    """While one item's row waits on a slow peer, a row queued for another item afterwards is
    claimed and carried out; the slow one finishes later and both end done, once each."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": "slow"}, "slow")], T0)
    handle = Holding("slow")
    worker = OutboxWorker(repo=repo, handlers={"test.effect": handle}, clock=Clock())
    stop, thread = running_worker(worker)
    try:
        assert handle.started.wait(10)
        repo.enqueue([Effect("test.effect", {"feedback_id": 2, "n": "quick"}, "quick")], T0)
        worker.wake.set()
        wait_for(lambda: "quick" in handle.ran)  # the new row did not wait for the slow lane
    finally:
        handle.release.set()
        stop.set()
        thread.join(10)
    assert handle.ran == ["slow", "quick"]
    assert repo.rows() == [("test.effect", "done", 1, None)] * 2


def test_a_row_claimed_while_its_subject_runs_waits_behind_it(database_url: str) -> None:
    """An item's second row, queued while its first is still running, starts only after the
    first is finished (a receipt is never re-rendered out of order)."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": 1}, "first")], T0)
    release, started, second_done = threading.Event(), threading.Event(), threading.Event()
    events: list[str] = []

    def handle(payload: dict[str, object]) -> Sequence[Effect]:
        events.append(f"start {payload['n']}")
        if payload["n"] == 1:
            started.set()
            assert release.wait(10)
        else:
            second_done.set()
        events.append(f"end {payload['n']}")
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": handle}, clock=Clock())
    stop, thread = running_worker(worker)
    try:
        assert started.wait(10)
        repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": 2}, "second")], T0)
        worker.wake.set()
        assert not second_done.wait(0.5)  # claimed meanwhile, but its item's lane is busy
        release.set()
        assert second_done.wait(10)
    finally:
        release.set()
        stop.set()
        thread.join(10)
    assert events == ["start 1", "end 1", "start 2", "end 2"]
    assert repo.rows() == [("test.effect", "done", 1, None)] * 2


def test_a_stopping_worker_gives_back_what_it_has_not_started(database_url: str) -> None:
    """Stopped while one item's row runs, a worker running one lane at a time gives back the
    rows of the other items at once (another worker claims them, their try not counted), keeps
    the row waiting behind the running one and carries it out after it."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": "1a"}, "1a")], T0)
    repo.enqueue(
        [Effect("test.effect", {"feedback_id": i, "n": f"{i}a"}, f"{i}a") for i in (2, 3)]
        + [Effect("test.effect", {"feedback_id": 1, "n": "1b"}, "1b")],
        T0 + dt.timedelta(seconds=1),
    )
    handle = Holding("1a")
    clock = Clock()
    clock.now = T0 + dt.timedelta(seconds=2)
    worker = OutboxWorker(repo=repo, handlers={"test.effect": handle}, clock=clock, concurrency=1)
    stop, thread = running_worker(worker)
    try:
        assert handle.started.wait(10)
        wait_for(lambda: repo.rows()[1:] == [("test.effect", "pending", 1, None)] * 3)
        stop.set()
        given_back = wait_for(lambda: repo.claim(clock.now, 10, dt.timedelta(minutes=2)))
        assert sorted(task.payload["n"] for task in given_back) == ["2a", "3a"]
        assert {task.attempts for task in given_back} == {1}  # the unstarted try is not counted
        assert thread.is_alive()  # still carrying out what is under way
    finally:
        handle.release.set()
        thread.join(10)
    assert not thread.is_alive()
    assert handle.ran == ["1a", "1b"]
    assert [row[1] for row in repo.rows()] == ["done", "pending", "pending", "done"]


def test_giving_back_a_row_another_worker_took_meanwhile_leaves_it_to_that_worker(
    database_url: str,
) -> None:
    """A lease that ran out before its row was given back is another worker's now: the give
    back changes nothing, and the row stays leased to its new taker."""
    repo = setup(database_url)
    enqueue(repo, "a")
    lease = dt.timedelta(minutes=1)
    [stale] = repo.claim(T0, 10, lease)
    later = T0 + dt.timedelta(minutes=2)
    [taken] = repo.claim(later, 10, lease)
    repo.release([stale])
    assert repo.claim(later, 10, lease) == []
    assert repo.renew(taken, later + lease)  # still the new taker's lease
    assert repo.rows() == [("test.effect", "pending", 2, None)]


def wait_for(probe: Callable[[], T]) -> T:
    """Poll `probe` until it returns something truthy (at most 10 s) and return that."""
    deadline = time.monotonic() + 10
    while not (found := probe()):
        assert time.monotonic() < deadline, "waited 10 s in vain"
        time.sleep(0.01)
    return found


def test_lanes_of_first_kinds_start_before_the_others_waiting(database_url: str) -> None:
    """With more lanes ready than the worker runs at once, a page's lane goes first though its
    row was queued after the receipts'."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": i}, f"r{i}") for i in range(4)], T0)
    repo.enqueue([Effect("test.page", {"escalation_id": 1}, "page")], T0 + dt.timedelta(seconds=1))
    order: list[str] = []
    clock = Clock()
    clock.now = T0 + dt.timedelta(seconds=2)
    worker = OutboxWorker(
        repo=repo,
        handlers={
            "test.effect": lambda p: order.append(f"receipt {p['feedback_id']}") or [],
            "test.page": lambda p: order.append("page") or [],
        },
        first_kinds=frozenset({"test.page"}),
        concurrency=1,
        clock=clock,
    )
    try:
        assert worker.run_once() == 5
    finally:
        worker.close()
    assert order == ["page", "receipt 0", "receipt 1", "receipt 2", "receipt 3"]


def test_follow_ups_of_a_batch_are_queued_once_each(database_url: str) -> None:
    """Rows finishing together queue their follow-ups in one go; a key repeated is queued once."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": i}, f"k{i}") for i in range(6)], T0)
    shared = Effect("test.tell", {}, "tell:once")

    def follow(payload: dict[str, object]) -> Sequence[Effect]:
        own = Effect("test.tell", {"of": payload["feedback_id"]}, f"tell:{payload['feedback_id']}")
        return [own, shared]

    told: list[object] = []
    handlers = {"test.effect": follow, "test.tell": lambda p: told.append(p) or []}
    worker = OutboxWorker(repo=repo, handlers=handlers, clock=Clock())
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()
    assert len(told) == 7 and told.count({}) == 1
    assert sorted(kind for kind, *_ in repo.rows()) == ["test.effect"] * 6 + ["test.tell"] * 7


def test_a_row_whose_lease_ran_out_in_its_lane_is_left_to_its_new_taker(database_url: str) -> None:
    """The first row of a lane runs past the lease; another worker takes the second meanwhile:
    the first worker skips it instead of carrying it out twice."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": n}, f"k{n}") for n in (1, 2)], T0)
    clock, seen, taken = Clock(), [], []

    def slow(payload: dict[str, object]) -> Sequence[Effect]:
        seen.append(payload["n"])
        if payload["n"] == 1:
            clock.now = T0 + dt.timedelta(minutes=3)  # past the 2 min lease
            taken.extend(repo.claim(clock.now, 10, dt.timedelta(minutes=2)))  # another worker
        return []

    OutboxWorker(repo=repo, handlers={"test.effect": slow}, clock=clock).run_once()
    assert seen == [1]
    assert 2 in [task.payload["n"] for task in taken]  # (and 1, whose lease ran out too)


def test_a_row_that_waited_in_its_lane_renews_its_lease_and_runs(database_url: str) -> None:
    """Past half its lease but with nobody else on it, a waiting row renews the lease and runs."""
    repo = setup(database_url)
    repo.enqueue([Effect("test.effect", {"feedback_id": 1, "n": n}, f"k{n}") for n in (1, 2)], T0)
    clock, seen = Clock(), []

    def slow(payload: dict[str, object]) -> Sequence[Effect]:
        seen.append(payload["n"])
        clock.now = T0 + dt.timedelta(seconds=90)  # past half the 2 min lease, not past it
        return []

    OutboxWorker(repo=repo, handlers={"test.effect": slow}, clock=clock).run_once()
    assert seen == [1, 2]
    assert repo.rows() == [("test.effect", "done", 1, None)] * 2


def test_the_worker_lets_slack_requests_in_flight_go_first() -> None:
    """A pass waits for the requests being answered (their acks) before it claims its rows."""
    gate, order = InFlight(), []
    entered, release = threading.Event(), threading.Event()

    def request() -> None:
        with gate:
            entered.set()
            release.wait(10)
            order.append("acked")

    answering = threading.Thread(target=request)
    answering.start()
    entered.wait(10)
    waiting = threading.Thread(target=lambda: (gate.wait_clear(10), order.append("worker")))
    waiting.start()
    release.set()
    answering.join(10)
    waiting.join(10)
    assert order == ["acked", "worker"]


def test_a_batch_kind_gets_every_claimed_row_in_one_call_with_an_outcome_each(
    database_url: str,
) -> None:
    """A batch handler sees all of its kind's due rows at once; each row ends as its own
    outcome says: done with its follow-ups, retried, or failed for good."""
    repo = setup(database_url)
    enqueue(repo, "ok", "later", "refused", "crashed", kind="test.batch")
    enqueue(repo, "single")
    calls: list[list[object]] = []

    def batch(payloads: Sequence[dict[str, object]]) -> list[Sequence[Effect] | Exception]:
        calls.append([p["key"] for p in payloads])
        outcomes: dict[object, Sequence[Effect] | Exception] = {
            "ok": [Effect("test.next", {}, "next:ok", ahead=False)],
            "later": DeliveryDeferred("busy", retry_after=60),
            "refused": DeliveryRefused("channel_not_found"),
            "crashed": RuntimeError("bug"),
        }
        return [outcomes[p["key"]] for p in payloads]

    worker = OutboxWorker(
        repo=repo,
        handlers={"test.effect": lambda payload: [], "test.next": lambda payload: []},
        batch_handlers={"test.batch": batch},
        clock=Clock(),
    )
    assert worker.run_once() == 5
    assert calls == [["ok", "later", "refused", "crashed"]]
    states = {(kind, status) for kind, status, *_ in repo.rows()}
    assert ("test.batch", "done") in states and ("test.batch", "failed") in states
    assert ("test.next", "pending") in states and ("test.effect", "done") in states
    pending = [row for row in repo.rows() if row[0] == "test.batch" and row[1] == "pending"]
    assert sorted(str(row[3]) for row in pending) == ["RuntimeError", "busy"]


def test_a_bulk_kind_is_claimed_past_the_common_batch_and_leaves_it_to_the_others(
    database_url: str,
) -> None:
    """A burst of a bulk kind (pages to plan) reaches its batch handler whole in one pass,
    and the pass still claims its common batch of other rows beside it."""
    repo = setup(database_url)
    enqueue(repo, *[f"page{i}" for i in range(12)], kind="test.bulk")
    repo.enqueue(
        [Effect("test.effect", {"key": f"other{i}"}, f"other{i}") for i in range(5)],
        T0 + dt.timedelta(seconds=1),
    )
    calls: list[int] = []
    others: list[object] = []
    clock = Clock()
    clock.now = T0 + dt.timedelta(seconds=2)
    worker = OutboxWorker(
        repo=repo,
        handlers={"test.effect": lambda payload: others.append(payload["key"]) or []},
        batch_handlers={"test.bulk": lambda ps: calls.append(len(ps)) or [[] for _ in ps]},
        bulk_kinds=frozenset({"test.bulk"}),
        clock=clock,
        batch=4,
        bulk_batch=20,
    )
    try:
        assert worker.run_once() == 12 + 4
    finally:
        worker.close()
    assert calls == [12]  # one call for the whole burst, not three of the common batch's 4
    assert len(others) == 4  # the other rows were not crowded out by the burst


def test_a_bulk_kind_needs_a_batch_handler(database_url: str) -> None:
    """Naming a bulk kind that has no batch handler is a wiring mistake, caught at start."""
    repo = setup(database_url)
    with pytest.raises(ValueError, match=r"test\.bulk"):
        OutboxWorker(repo=repo, handlers={}, bulk_kinds=frozenset({"test.bulk"}), clock=Clock())


def test_a_failing_batch_puts_every_row_back_for_another_try(database_url: str) -> None:
    """When the batch handler itself fails (the database went away), no row is lost or done."""
    repo = setup(database_url)
    enqueue(repo, "a", "b", kind="test.batch")

    def broken(payloads: Sequence[dict[str, object]]) -> list[Sequence[Effect] | Exception]:
        raise ConnectionError("database gone")

    clock = Clock()
    worker = OutboxWorker(
        repo=repo, handlers={}, batch_handlers={"test.batch": broken}, clock=clock
    )
    assert worker.run_once() == 2
    assert [(kind, status, error) for kind, status, _, error in repo.rows()] == [
        ("test.batch", "pending", "ConnectionError")
    ] * 2
    seen: list[object] = []
    worker = OutboxWorker(
        repo=repo,
        handlers={},
        batch_handlers={"test.batch": lambda ps: [seen.append(p["key"]) or [] for p in ps]},
        clock=clock,
    )
    clock.now = T0 + dt.timedelta(minutes=15)
    assert worker.run_once() == 2
    assert sorted(map(str, seen)) == ["a", "b"]
    assert {status for _, status, *_ in repo.rows()} == {"done"}


def test_a_follow_up_that_can_wait_joins_the_back_of_the_queue(database_url: str) -> None:
    """Follow-ups go ahead of their parent's place, unless marked to wait behind the rest."""
    repo = setup(database_url)
    enqueue(repo, "first", "second")
    order: list[object] = []
    clock = Clock()
    clock.now = T0 + dt.timedelta(seconds=5)

    def handler(payload: dict[str, object]) -> Sequence[Effect]:
        order.append(payload["key"])
        if payload["key"] == "first":
            return [
                Effect("test.effect", {"key": "urgent"}, "urgent"),
                Effect("test.effect", {"key": "can wait"}, "can wait", ahead=False),
            ]
        return []

    worker = OutboxWorker(repo=repo, handlers={"test.effect": handler}, clock=clock, batch=1)
    while worker.run_once():
        pass
    assert order == ["first", "urgent", "second", "can wait"]
