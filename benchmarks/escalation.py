"""Escalation scheduler: how late page DMs arrive at 1,000 escalating items, and a tick's cost.

Part 1 runs the real bot (`build_runtime(...).start()`: APScheduler calling
`EscalationService.tick` every `--ticks` seconds, the outbox worker, SlackPager) against the
Slack emulator, with N sev1 items whose policy is `notify_primary, wait 5s, notify_secondary`.
Their first step is already handed out, so the secondary step of every item falls due inside
the measured window: all at one instant (a burst, once per tick interval), then, at the last
interval, spread evenly over `--spread` seconds. Each item's lag runs from that due time to its
page DM as the emulator recorded it, next to a bare `chat.postMessage` of the same page through
the bot's own client. Part 2 calls `tick()` directly, on a clock the script sets, with nothing
due and with every item due, next to a bare `SELECT 1` on the same engine. Everything runs in
one process on 127.0.0.1, so the figures are comparable within a run, not across machines.
Run it with:

    .venv/bin/python benchmarks/escalation.py [--items 1000] [--ticks 1,5] [--spread 30]
        [--repeat 30] [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import re
import resource
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.domain import EscalatingItem, FeedbackDraft, ItemKind, ItemRef, Page
from bot.escalation.model import values_of
from bot.escalation.paging import DM, MENTION
from bot.escalation.service import PAGE, EscalationService, timeline_id
from bot.oncall import policy
from bot.oncall.policy import Snapshot
from bot.ports import utc_now
from bot.slack.client import make_client
from bot.slack.pager import SlackPager
from sandbox.demo.programs import two_tier_escalation
from sandbox.demo.samples import feedback_draft
from sandbox.slack import RecordedCall
from storage import db
from storage.escalations import EscalationRepository
from storage.models import OutboxRow
from storage.repositories import FeedbackRepository

from _harness import (
    EXAMPLE_PROGRAM,
    FEEDBACK,
    RECEIPT_TS_BASE,
    REPORTER,
    SLACK_TOKEN,
    CellDatabases,
    add_output_options,
    bot_settings,
    finite,
    machine,
    machine_line,
    median,
    parser,
    percentile,
    positive_int,
    quiet_logging,
    repeat_ms,
    slack_process,
    time_ms,
    write_json,
)

PRIMARY, SECONDARY, BASELINE_USER = "U0PRIM", "U0SECOND", "U0BASELINE"
SEVERITY = "sev1"
WAIT = dt.timedelta(seconds=5)  # the policy's wait between the primary and the secondary
BASELINE_POSTS = 200
SETTLE_FLOOR_S = 60.0  # how long part 1 waits past the last due time, at least
_ITEM_IN_BUTTON = re.compile(r'"value": "feedback:(\d+)"')


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    items: int
    ticks: list[float]
    spread: float
    repeat: int
    database_url: str | None
    json_path: Path | None


# -- the bot -----------------------------------------------------------------------------------


def escalating_program() -> Program:
    """The example program with one-person rotas (on call since 2020) and a short sev1 policy.

    `resolve_within` is hours away, so no SLA-breach round falls due during a run. The digest
    channel is dropped: this measures escalation, and without it no digest or weekly review is
    scheduled (one would post to a channel the emulator does not know, on a run across 16:00
    on a Friday, say).
    """
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE_PROGRAM.read_text(encoding="utf-8"))
    raw["channels"].pop("digest", None)
    raw.update(
        two_tier_escalation(
            PRIMARY,
            SECONDARY,
            wait_s=WAIT.total_seconds(),
            severity=SEVERITY,
            ack_within="1h",
            resolve_within="4h",
            notify_leads=False,
        )
    )
    return Program.model_validate(raw)


USERS = {PRIMARY: "primary", SECONDARY: "secondary", REPORTER: "alice"}


def emulator() -> contextlib.AbstractContextManager[Any]:
    """A fresh Slack emulator per cell (it keeps every call in memory until it is dropped), in
    a process of its own, as Slack is not in the bot's process: a `HostedSlack` proxy."""
    return slack_process(users=USERS)


@contextlib.contextmanager
def bot(
    slack_api_url: str,
    database_url: str,
    tick_s: float,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Iterator[Runtime]:
    """The bot as build_runtime wires it, migrated and not started; stopped afterwards."""
    settings = bot_settings(slack_api_url, database_url, escalation_tick_seconds=tick_s)
    runtime = build_runtime(settings, escalating_program(), clock)
    try:
        db.migrate(runtime.engine)
        yield runtime
    finally:
        runtime.stop()


def escalation_service(runtime: Runtime) -> EscalationService:
    """The runtime's escalation service (the program always has one here)."""
    service = runtime.services.escalation
    assert service is not None and service.enabled
    return service


# -- the items ---------------------------------------------------------------------------------


def draft(batch: str, number: int) -> FeedbackDraft:
    """A valid sev1 modal submission."""
    return feedback_draft(
        summary=f"Checkout returns 504 for card payments #{number}",
        severity=SEVERITY,
        channel_id=FEEDBACK,
        reporter_id=REPORTER,
        submission_key=f"bench-esc-{batch}-{number}",
    )


def seed_feedback(runtime: Runtime, count: int, now: Callable[[], dt.datetime]) -> list[int]:
    """Store sev1 feedback with its receipt posted (thread mentions need the receipt's ts)."""
    repo = FeedbackRepository(db.make_sessions(runtime.engine), runtime.program.id_prefix)
    batch = uuid.uuid4().hex[:8]
    ids = []
    for number in range(count):
        stored = repo.add(draft(batch, number), now()).feedback
        repo.record_receipt(stored.id, f"{RECEIPT_TS_BASE + stored.id}.000100", None, now())
        ids.append(stored.id)
    return ids


def seed_escalations(
    runtime: Runtime,
    ids: Sequence[int],
    due: Callable[[int], dt.datetime],
    now: Callable[[], dt.datetime],
) -> dict[int, int]:
    """Store each item's escalation past its primary step, its secondary due at `due(index)`.

    The state is what `EscalationService.start` and one tick would have stored for an item
    filed at `due - WAIT`; storing it directly keeps the primary pages out of the measurement
    and lets the script choose when the secondary steps fall due. Returns escalation → feedback.
    """
    repo = EscalationRepository(db.make_sessions(runtime.engine))
    escalation_policy = escalation_service(runtime).policy_for(SEVERITY)
    assert escalation_policy is not None
    feedback_of = {}
    for index, feedback_id in enumerate(ids):
        started = due(index) - WAIT
        ref = ItemRef(ItemKind.FEEDBACK, feedback_id)
        snapshot = Snapshot.take(escalation_policy, started)
        state = policy.advance(policy.start(timeline_id(ref, 1), snapshot, started), started)
        at = now()
        escalation_id = repo.start(ref, SEVERITY, values_of(state, at), at)
        assert escalation_id is not None
        feedback_of[escalation_id] = feedback_id
    return feedback_of


def at_once(due: dt.datetime) -> Callable[[int], dt.datetime]:
    """Every item's secondary step due at the same moment."""
    return lambda _: due


def sample_page(started: dt.datetime) -> Page:
    """A secondary-step page as PageSender builds it, for the bare-post baseline."""
    item = EscalatingItem(
        ref=ItemRef(ItemKind.FEEDBACK, 1),
        severity=SEVERITY,
        title="HC-1 · Checkout returns 504 for card payments #1",
        channel_id=FEEDBACK,
        thread_ts=f"{RECEIPT_TS_BASE + 1}.000100",
        link=None,
        started_at=started,
        resolved_at=None,
    )
    return Page(
        item=item,
        severity_label="Critical",
        role="secondary on-call",
        round=0,
        rounds=1,
        sla_breached=False,
        escalating_since=started,
    )


# -- part 1: page lag on the running bot -------------------------------------------------------


@dataclass
class LagCell:
    """One run of the live bot: per-item lag and where it went, and what the checks found."""

    shape: str
    tick_s: float
    spread_s: float
    items: int
    seed_s: float = 0.0
    lags: list[float] = field(default_factory=list)  # due → page DM at the emulator
    to_claim: list[float] = field(default_factory=list)  # due → the tick that claimed it
    to_handled: list[float] = field(default_factory=list)  # claim → page row carried out
    to_dm: list[float] = field(default_factory=list)  # page row done → DM at the emulator
    drain_s: float = 0.0  # first due → last page DM
    skipped_ticks: int = 0  # scheduler runs skipped because the previous tick still ran
    pages_before_first_dm: int = 0  # escalation.page rows carried out before the first DM
    last_call_s: float = 0.0  # first due → the step's last Slack call (DM or mention)
    step_calls: int = 0  # the step's Slack calls: page DM posts and updates, thread mentions
    calls_span_s: float = 0.0  # the step's first Slack call → its last
    slack_calls: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def calls_per_s(self) -> float:
        """The step's Slack calls per second, from its first call to its last."""
        return self.step_calls / self.calls_span_s if self.calls_span_s > 0 else math.nan

    @property
    def pages_per_s(self) -> float:
        """Page DMs delivered per second, first due time to the last DM."""
        return len(self.lags) / self.drain_s if self.drain_s > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """The figures of this cell, for --json."""
        return {
            "shape": self.shape,
            "tick_s": self.tick_s,
            "spread_s": self.spread_s,
            "items": self.items,
            "delivered": len(self.lags),
            "lag_s": quantiles(self.lags),
            "due_to_claim_s": quantiles(self.to_claim),
            "claim_to_page_handled_s": quantiles(self.to_handled),
            "page_handled_to_dm_s": quantiles(self.to_dm),
            "drain_s": round(self.drain_s, 3),
            "first_dm_s": finite(min(self.lags, default=math.nan), 4),
            "skipped_ticks": self.skipped_ticks,
            "page_rows_done_before_first_dm": self.pages_before_first_dm,
            "last_slack_call_s": round(self.last_call_s, 3),
            "pages_per_s": finite(self.pages_per_s, 1),
            "slack_calls_per_s": finite(self.calls_per_s, 1),
            "slack_calls": dict(self.slack_calls),
            "problems": self.problems,
        }


@dataclass(frozen=True)
class BarePost:
    """The baseline: the same page DM posted with the bot's client, no database or outbox.

    Posted before the cells and again after them: on a shared machine one measurement moves by
    a fifth from run to run, and every ratio to it with it; the median of both is the baseline.
    """

    before_ms: list[float]
    after_ms: list[float] = field(default_factory=list)

    @property
    def latencies_ms(self) -> list[float]:
        """Every timed post."""
        return [*self.before_ms, *self.after_ms]

    @property
    def p50_ms(self) -> float:
        """The median round trip, in ms."""
        return median(self.latencies_ms)


def bare_posts(slack: Any, count: int) -> list[float]:
    """Time `count` page DMs sent through SlackPager.page_person, after a few warm-ups (ms)."""
    pager = SlackPager(make_client(SLACK_TOKEN, slack.base_url()))
    page = sample_page(utc_now())
    latencies = repeat_ms(lambda: pager.page_person(BASELINE_USER, page), count, warmup=10)
    slack.reset_calls()
    return latencies


class SkippedTicks(logging.Handler):
    """Counts APScheduler's "maximum number of running instances reached" skips, quietly.

    A tick that takes longer than the interval makes the scheduler skip the next runs (the
    job has max_instances=1); each skip is a WARNING the bot would log in production.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "maximum number of running instances" in record.getMessage():
            self.count += 1

    @contextlib.contextmanager
    def attached(self) -> Iterator[SkippedTicks]:
        """Count while inside; the scheduler's logger stays quiet meanwhile."""
        logger = logging.getLogger("apscheduler.scheduler")
        logger.addHandler(self)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.propagate = True


def first_due(started: float, tick_s: float, earliest: float) -> float:
    """The first instant past `earliest` halfway between two scheduler ticks.

    The scheduler ticks at start + k × interval, so a burst due halfway waits half an
    interval, the average; a spread over whole intervals averages over every phase anyway.
    """
    k = math.ceil((earliest - started - tick_s / 2) / tick_s)
    return started + max(k, 0) * tick_s + tick_s / 2


def page_dms(calls: Sequence[RecordedCall]) -> dict[int, list[tuple[str, RecordedCall]]]:
    """The page DMs to the secondary that show each item, by the feedback id on its
    Acknowledge button: (the DM's ts, the call) for every post or update that listed it.

    Pages to one person in a short window share one DM updated in place, so an item first
    reaches the secondary in a `chat.postMessage` or in a `chat.update` of that DM; a page that
    names several items counts as a page for each.
    """
    found: dict[int, list[tuple[str, RecordedCall]]] = {}
    dm_channels: set[str] = set()
    for call in calls:
        if not call.response.get("ok"):
            continue
        if call.method == "chat.postMessage" and call.args.get("channel") == SECONDARY:
            dm_channels.add(str(call.response.get("channel")))
            ts = str(call.response.get("ts"))
        elif call.method == "chat.update" and call.args.get("channel") in dm_channels:
            ts = str(call.args.get("ts"))
        else:
            continue
        for match in _ITEM_IN_BUTTON.finditer(json.dumps(call.args.get("blocks"))):
            found.setdefault(int(match.group(1)), []).append((ts, call))
    return found


def mentions(calls: Sequence[RecordedCall]) -> list[RecordedCall]:
    """The thread mentions of the secondary step."""
    return [
        c
        for c in calls
        if c.method == "chat.postMessage"
        and c.args.get("channel") == FEEDBACK
        and c.args.get("thread_ts")
        and f"<@{SECONDARY}>" in str(c.args.get("text"))
    ]


def wait_for_step(slack: Any, items: int, deadline: float) -> list[RecordedCall]:
    """Wait until every item's mention arrived and its page DM shows it (or the deadline).

    The emulator only counts the mentions while the bot works; the calls (many, and large)
    come over to this process once the mentions are all in, to find the DMs in them.
    """
    while True:
        mentioned = slack.count_to("chat.postMessage", FEEDBACK) >= items
        if mentioned or time.time() > deadline:
            calls: list[RecordedCall] = slack.calls_to("chat.postMessage", "chat.update")
            if len(page_dms(calls)) >= items or time.time() > deadline:
                return sorted(calls, key=lambda c: c.at)
        time.sleep(0.5)


def step_rows(
    runtime: Runtime,
) -> list[tuple[str, dict[str, Any], dt.datetime, dt.datetime | None]]:
    """The outbox rows of the step: page, DM and mention, with when queued and when done."""
    sessions = db.make_sessions(runtime.engine)
    query = select(OutboxRow.kind, OutboxRow.payload, OutboxRow.created_at, OutboxRow.done_at)
    with sessions() as session:
        rows = session.execute(query.where(OutboxRow.kind.in_([PAGE, DM, MENTION]))).all()
    return [(r[0], dict(r[1]), r[2], r[3]) for r in rows]


def lag_cell(options: Options, tick_s: float, spread_s: float, url: str) -> LagCell:
    """Start the bot, let N secondary steps fall due, and time each page DM's arrival."""
    shape = "burst" if spread_s == 0 else f"spread {spread_s:g}s"
    cell = LagCell(shape, tick_s, spread_s, options.items)
    skipped = SkippedTicks()
    with emulator() as slack, bot(slack.base_url(), url, tick_s) as runtime, skipped.attached():
        began = time.time()
        ids = seed_feedback(runtime, options.items, utc_now)
        feedback_s = time.time() - began
        started = time.time()
        runtime.start()
        # Storing an escalation takes one transaction, the feedback took two: budget for
        # about as long as the feedback took, so the first due time is not missed.
        seed_start = time.time()
        budget = 0.5 + 0.75 * feedback_s
        first = first_due(started, tick_s, seed_start + budget)
        step = spread_s / options.items

        def due(index: int) -> dt.datetime:
            return dt.datetime.fromtimestamp(first + index * step, dt.UTC)

        feedback_of = seed_escalations(runtime, ids, due, utc_now)
        cell.seed_s = time.time() - seed_start
        if time.time() > first:
            cell.problems.append(
                f"storing the escalations ran {time.time() - first:.1f}s past the first due time"
            )
        due_at = {feedback_id: due(index).timestamp() for index, feedback_id in enumerate(ids)}
        last = max(due_at.values())
        calls = wait_for_step(slack, options.items, last + SETTLE_FLOOR_S + options.items / 20)
        rows = step_rows(runtime)
    cell.skipped_ticks = skipped.count
    collect(cell, calls, rows, due_at, feedback_of, first)
    return cell


def collect(
    cell: LagCell,
    calls: list[RecordedCall],
    rows: list[tuple[str, dict[str, Any], dt.datetime, dt.datetime | None]],
    due_at: dict[int, float],
    feedback_of: dict[int, int],
    first: float,
) -> None:
    """Turn the recorded calls and outbox rows into the cell's lags and problems."""
    dms = page_dms(calls)
    handled: dict[int, tuple[float, float]] = {}
    for kind, payload, created, done in rows:
        feedback_id = feedback_of.get(int(payload.get("escalation_id", -1)))
        if kind == PAGE and feedback_id is not None and done is not None:
            handled[feedback_id] = (created.timestamp(), done.timestamp())
    for feedback_id, due in due_at.items():
        got = [c for _, c in dms.get(feedback_id, [])]
        if not got:
            continue
        arrived = min(c.at for c in got)
        cell.lags.append(arrived - due)
        if feedback_id in handled:
            claimed, carried_out = handled[feedback_id]
            cell.to_claim.append(claimed - due)
            cell.to_handled.append(carried_out - claimed)
            cell.to_dm.append(arrived - carried_out)
    dm_times = [min(c.at for _, c in found) for found in dms.values()]
    first_dm = min(dm_times, default=math.inf)
    cell.pages_before_first_dm = sum(done < first_dm for _, done in handled.values())
    step_calls = [c.at for found in dms.values() for _, c in found] + [
        c.at for c in mentions(calls)
    ]
    step_calls = sorted(set(step_calls))
    cell.drain_s = max(dm_times, default=first) - first
    cell.last_call_s = max(step_calls, default=first) - first
    cell.step_calls = len({id(c) for found in dms.values() for _, c in found}) + len(
        mentions(calls)
    )
    cell.calls_span_s = (max(step_calls) - min(step_calls)) if step_calls else 0.0
    cell.slack_calls.update(
        "page DM update"
        if c.method == "chat.update"
        else "page DM"
        if c.args.get("channel") == SECONDARY
        else "thread mention"
        if c.args.get("channel") == FEEDBACK
        else f"other ({c.args.get('channel')})"
        for c in calls
    )
    missing = len(due_at) - len(cell.lags)
    if missing:
        cell.problems.append(f"{missing} items got no page DM")
    doubled = sum(len({ts for ts, _ in found}) > 1 for found in dms.values())
    if doubled:
        cell.problems.append(f"{doubled} items were paged more than once")
    if len(mentions(calls)) != len(due_at):
        cell.problems.append(f"{len(mentions(calls))} thread mentions for {len(due_at)} items")
    refused = [c for c in calls if c.response.get("ok") is not True]
    if refused:
        cell.problems.append(f"{len(refused)} Slack calls failed, e.g. {refused[0].response}")
    left = Counter(kind for kind, _, _, done in rows if done is None)
    if left:
        cell.problems.append(f"outbox rows not done when the cell ended: {dict(left)}")


# -- part 2: the cost of one tick --------------------------------------------------------------


class ManualClock:
    """A clock the script sets: ticks see exactly the moment it chooses."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


class StatementCounter:
    """Counts the SQL statements an engine runs while attached (database round trips)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.count = 0

    def _seen(self, *_: object) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


@dataclass(frozen=True)
class Timed:
    """Repeated timings of one operation, and the statements one run made."""

    label: str
    ms: list[float]
    statements: float  # per run
    result: int = 0  # what one run returned (pages queued, for a tick)

    @property
    def p50(self) -> float:
        """The median, in ms."""
        return median(self.ms)

    @property
    def p95(self) -> float:
        """The 95th percentile, in ms."""
        return percentile(self.ms, 95)


def timed(label: str, engine: Engine, run: Callable[[], int], repeat: int) -> Timed:
    """Run `run` a few times untimed, then `repeat` times timed, counting statements."""
    for _ in range(min(3, repeat)):
        run()
    with StatementCounter(engine) as counter:
        runs = [time_ms(run) for _ in range(repeat)]
    return Timed(label, [ms for ms, _ in runs], counter.count / repeat, runs[-1][1])


def select_one(engine: Engine) -> Callable[[], int]:
    """A bare `SELECT 1` round trip on the engine (a pooled connection, as repositories use)."""

    def run() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    return run


@dataclass
class TickCost:
    """Part 2: tick timings at N escalations, with the SELECT 1 baseline."""

    items: int
    select_one: Timed
    idle_empty: Timed  # no escalations at all
    idle: Timed  # N escalations, nothing due
    due: list[Timed] = field(default_factory=list)  # N escalations, all due: one run each
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The figures, for --json."""

        def one(t: Timed) -> dict[str, Any]:
            return {
                "label": t.label,
                "p50_ms": round(t.p50, 3),
                "p95_ms": round(t.p95, 3),
                "runs": len(t.ms),
                "statements_per_run": round(t.statements, 1),
                "result": t.result,
            }

        return {
            "items": self.items,
            "select_1": one(self.select_one),
            "tick_idle_empty": one(self.idle_empty),
            "tick_idle": one(self.idle),
            "tick_all_due": [one(t) for t in self.due],
            "problems": self.problems,
        }


def tick_cost(options: Options, urls: CellDatabases, rounds: int) -> TickCost:
    """Time tick() with nothing due and with every item due, on a clock the script sets.

    An all-due tick changes what it measures (the items move on), so each of the `rounds`
    runs gets a fresh database with N fresh items.
    """
    result: TickCost | None = None
    for _ in range(rounds):
        epoch = utc_now().replace(microsecond=0)
        clock = ManualClock(epoch)
        secondary_due = epoch + WAIT
        with emulator() as slack, bot(slack.base_url(), urls.fresh(), 5.0, clock) as runtime:
            service, engine = escalation_service(runtime), runtime.engine
            if result is None:
                ones = timed("SELECT 1", engine, select_one(engine), options.repeat)
                empty = timed("tick, 0 escalations", engine, service.tick, options.repeat)
            ids = seed_feedback(runtime, options.items, clock)
            seed_escalations(runtime, ids, at_once(secondary_due), clock)
            clock.at = epoch + WAIT - dt.timedelta(seconds=1)
            if result is None:
                label = f"tick, {options.items} escalations, none due"
                idle = timed(label, engine, service.tick, options.repeat)
                result = TickCost(options.items, ones, empty, idle)
            clock.at = epoch + WAIT
            with StatementCounter(engine) as counter:
                elapsed, pages = time_ms(service.tick)
            label = f"tick, {options.items} escalations, all due"
            result.due.append(Timed(label, [elapsed], counter.count, pages))
            if pages != options.items:
                result.problems.append(f"a tick with every item due queued {pages} pages")
    assert result is not None
    return result


# -- output ------------------------------------------------------------------------------------


def quantiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max, rounded, for --json (None for no values)."""
    return {
        "p50": finite(percentile(values, 50), 4),
        "p95": finite(percentile(values, 95), 4),
        "p99": finite(percentile(values, 99), 4),
        "max": finite(max(values, default=math.nan), 4),
    }


def environment(options: Options, kind: str) -> dict[str, Any]:
    """What the figures depend on."""
    return {
        **machine(),
        "database": kind,
        "items": options.items,
        "policy": f"notify_primary, wait {WAIT.total_seconds():g}s, notify_secondary",
    }


def lag_table(cells: list[LagCell], bare: float) -> str:
    """Part 1a: the lag percentiles, and the median's ratio to a bare post."""
    head = (
        f"{'due':<12}{'tick s':>7}{'N':>6}{'min s':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}"
        f"{'max s':>8}{'p50 ÷ bare post':>17}"
    )
    lines = [head, "-" * len(head)]
    for c in cells:
        p50 = percentile(c.lags, 50)
        lines.append(
            f"{c.shape:<12}{c.tick_s:>7g}{len(c.lags):>6}{min(c.lags, default=math.nan):>8.2f}"
            f"{p50:>8.2f}{percentile(c.lags, 95):>8.2f}{percentile(c.lags, 99):>8.2f}"
            f"{max(c.lags, default=math.nan):>8.2f}{1000 * p50 / bare:>16.0f}x"
        )
    return "\n".join(lines)


def flow_table(cells: list[LagCell], bare: float) -> str:
    """Part 1b: throughput against a bare post, skipped ticks, and where the median lag went."""
    head = (
        f"{'due':<12}{'tick s':>7}{'pages/s':>9}{'ms/page':>9}{'÷ bare':>8}{'skipped':>9}"
        f"{'→claim s':>10}{'→page s':>9}{'→DM s':>8}"
    )
    lines = [head, "-" * len(head)]
    for c in cells:
        per_page = 1000 / c.pages_per_s if c.pages_per_s > 0 else math.nan
        lines.append(
            f"{c.shape:<12}{c.tick_s:>7g}{c.pages_per_s:>9.1f}{per_page:>9.2f}"
            f"{per_page / bare:>7.1f}x{c.skipped_ticks:>9}{percentile(c.to_claim, 50):>10.2f}"
            f"{percentile(c.to_handled, 50):>9.2f}{percentile(c.to_dm, 50):>8.2f}"
        )
    return "\n".join(lines)


def tick_table(cost: TickCost) -> str:
    """Part 2: tick timings next to SELECT 1."""
    base = cost.select_one.p50
    head = f"{'':36}{'runs':>5}{'p50 ms':>9}{'p95 ms':>9}{'÷ SELECT 1':>11}{'stmts':>7}{'pages':>7}"
    lines = [head, "-" * len(head)]
    for t in [cost.select_one, cost.idle_empty, cost.idle, *cost.due]:
        lines.append(
            f"{t.label:<36}{len(t.ms):>5}{t.p50:>9.2f}{t.p95:>9.2f}{t.p50 / base:>10.1f}x"
            f"{t.statements:>7.0f}{t.result if t is not cost.select_one else '':>7}"
        )
    if cost.due:
        per_item = median([t.p50 for t in cost.due]) / cost.items
        stmts = median([t.statements for t in cost.due]) / cost.items
        lines.append(
            f"all due, per item: {per_item:.3f} ms ({per_item / base:.1f}x SELECT 1), "
            f"{stmts:.1f} statements, {1000 / per_item:.0f} items/s claimed"
        )
    return "\n".join(lines)


def report(env: dict[str, Any], bare: BarePost, cells: list[LagCell], cost: TickCost) -> None:
    """Print the environment, the tables and every problem found."""
    print("Hypercare Bot escalation scheduler: page lag and tick cost, 127.0.0.1")
    print(
        f"{machine_line(env)} | database {env['database']} | N = {env['items']} sev1 items\n"
        f"policy {env['policy']}; bare post = the same page DM through the bot's client "
        f"(SlackPager), p50 {bare.p50_ms:.2f} ms,\n"
        f"p99 {percentile(bare.latencies_ms, 99):.2f} ms over {len(bare.latencies_ms)} posts "
        f"(p50 {median(bare.before_ms):.2f} ms before the cells, "
        f"{median(bare.after_ms):.2f} ms after them)"
    )
    print(
        "\n1. Lag from each item's secondary step falling due to its page DM at the Slack "
        "emulator,\non the running bot (APScheduler tick, outbox worker, SlackPager). burst: "
        "every item due at one\ninstant, halfway between two ticks; spread: due times evenly "
        "over the window\n"
    )
    print(lag_table(cells, bare.p50_ms))
    print(
        "\npages/s, ms/page: N over first due → last page DM (a spread cell cannot beat its due "
        "rate);\nskipped: scheduler runs skipped because a tick was still running; medians of "
        "where the lag\ngoes: →claim = due → the tick that claimed the step, →page = claim → its "
        "escalation.page\nrow carried out, →DM = that → the DM at the emulator\n"
    )
    print(flow_table(cells, bare.p50_ms))
    for cell in cells:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(cell.slack_calls.items()))
        print(
            f"{cell.shape} @ {cell.tick_s:g}s: {calls}; escalations stored in "
            f"{cell.seed_s:.1f}s; page rows done before the first DM "
            f"{cell.pages_before_first_dm}; the step's last Slack call "
            f"{cell.last_call_s:.2f}s after the first due time; {cell.step_calls} Slack calls "
            f"at {cell.calls_per_s:.0f}/s, {100 * cell.calls_per_s * bare.p50_ms / 1000:.0f} % "
            "of the bare-post rate"
        )
    print(
        "\n2. One EscalationService.tick() called directly, the clock set by the script "
        "(stmts = SQL\nstatements per run; each all-due run starts from N fresh items)\n"
    )
    print(tick_table(cost))
    for cell in cells:
        for problem in cell.problems:
            print(f"WARNING: {cell.shape} @ {cell.tick_s:g}s: {problem}")
    for problem in cost.problems:
        print(f"WARNING: tick cost: {problem}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {rss:.0f} MiB")


def figures(
    env: dict[str, Any], bare: BarePost, cells: list[LagCell], cost: TickCost
) -> dict[str, Any]:
    """The figures, for --json."""
    return {
        "environment": env,
        "bare_post_ms": {
            "p50": round(bare.p50_ms, 3),
            "p99": round(percentile(bare.latencies_ms, 99), 3),
            "p50_before_cells": round(median(bare.before_ms), 3),
            "p50_after_cells": round(median(bare.after_ms), 3),
        },
        "lag": [c.summary() for c in cells],
        "tick": cost.summary(),
    }


# -- entry point -------------------------------------------------------------------------------


def _ticks(text: str) -> list[float]:
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values or not all(0 < v <= 60 for v in values):
        raise argparse.ArgumentTypeError("give tick intervals in seconds, above 0 and up to 60")
    return values


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument("--items", type=positive_int, default=1000, help="escalating items (1000)")
    cli.add_argument(
        "--ticks",
        type=_ticks,
        default=[1.0, 5.0],
        help="scheduler intervals, s (1,5; 5 is the default)",
    )
    cli.add_argument(
        "--spread",
        type=float,
        default=30.0,
        help="last cell: due times spread over this many s, last interval (30; 0: skip)",
    )
    cli.add_argument(
        "--repeat", type=positive_int, default=30, help="timed runs of idle ticks (30)"
    )
    add_output_options(cli, "PostgreSQL URL (default: temporary SQLite files)")
    args = cli.parse_args(argv)
    if args.spread < 0:
        cli.error("--spread must be 0 or more")
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        cli.error("--database-url takes PostgreSQL (SQLite is the default, in temporary files)")
    return Options(
        args.items, args.ticks, args.spread, args.repeat, args.database_url, args.json_path
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run both parts and print the tables."""
    options = parse_options(argv)
    quiet_logging()  # warnings only: the page sender logs every step it drops or skips
    with contextlib.ExitStack() as stack:
        urls = CellDatabases(options.database_url, stack)
        with emulator() as slack:
            before = bare_posts(slack, BASELINE_POSTS)
        plan = [(tick_s, 0.0) for tick_s in options.ticks]
        if options.spread > 0:  # one spread cell, at the last interval (the bot's default)
            plan.append((options.ticks[-1], options.spread))
        cells = [lag_cell(options, tick_s, spread_s, urls.fresh()) for tick_s, spread_s in plan]
        with emulator() as slack:
            bare = BarePost(before, bare_posts(slack, BASELINE_POSTS))
        cost = tick_cost(options, urls, rounds=3)
        env = environment(options, urls.kind)
    report(env, bare, cells, cost)
    if options.json_path is not None:
        write_json(options.json_path, figures(env, bare, cells, cost))


if __name__ == "__main__":
    main()
