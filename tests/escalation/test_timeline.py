"""Escalation on a virtual timeline, through the real services and database, without sleeping.

The bot is wired as in production but not started: the test moves the clock, runs scheduler
ticks and drains the outbox itself, and reads what reached the Slack emulator.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select, update

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.domain import FeedbackDraft, ItemKind, ItemRef
from bot.escalation.model import AckOutcome
from sandbox.demo.samples import feedback_draft
from sandbox.slack import SlackEmulator
from storage import db
from storage.models import EscalationRow, FeedbackRow
from tests.conftest import bot_settings
from tests.e2e.test_alert_flow import Clock
from tests.e2e.test_escalation import LEAD, PRIMARY, SECONDARY, WAIT, escalating_program

FEEDBACK = ItemRef(ItemKind.FEEDBACK, 1)


def draft(key: str = "view:V1") -> FeedbackDraft:
    """A sev1 draft."""
    return feedback_draft(submission_key=key)


class Bot:
    """A wired, unstarted bot the test drives by hand."""

    def __init__(self, slack: SlackEmulator, url: str, program: Program, clock: Clock) -> None:
        self.runtime: Runtime = build_runtime(bot_settings(slack, url), program, clock=clock)
        db.migrate(self.runtime.engine)
        assert self.runtime.services.escalation is not None
        self.escalation = self.runtime.services.escalation

    def settle(self) -> int:
        """Tick once, then run the outbox until it is empty; return the pages the tick queued."""
        queued = self.escalation.tick()
        while self.runtime.worker.run_once():
            pass
        return queued

    def row(self) -> EscalationRow:
        """The feedback's escalation row."""
        with db.make_sessions(self.runtime.engine)() as session:
            return session.scalars(select(EscalationRow)).one()


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves."""
    return Clock()


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, clock: Clock) -> Iterator[Bot]:
    """The escalating program's bot, not started."""
    driven = Bot(slack, database_url, escalating_program(), clock)
    yield driven
    driven.runtime.engine.dispose()


def paged(slack: SlackEmulator, user: str) -> list[str]:
    """The page DMs one person got, as their Block Kit JSON."""
    return [
        json.dumps(c.args["blocks"])
        for c in slack.calls_to("chat.postMessage")
        if c.response.get("ok") and c.args.get("channel") == user and "You are paged" in str(c.args)
    ]


def counts(slack: SlackEmulator) -> list[int]:
    """How many pages primary, secondary and lead got."""
    return [len(paged(slack, who)) for who in (PRIMARY, SECONDARY, LEAD)]


def test_steps_fall_due_at_their_times_and_each_is_sent_once(
    bot: Bot, slack: SlackEmulator, clock: Clock
) -> None:
    """Filed at t0: primary at t0, secondary at t0+wait, lead at t0+2·wait; ticks in between and
    after send nothing more."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    assert counts(slack) == [1, 0, 0]
    clock.tick(WAIT - 1)
    assert bot.settle() == 0
    clock.tick(1)
    bot.settle()
    assert counts(slack) == [1, 1, 0]
    clock.tick(WAIT)
    bot.settle()
    clock.tick(WAIT)
    bot.settle()
    bot.settle()
    assert counts(slack) == [1, 1, 1]
    assert bot.row().next_due is not None  # still waiting for the resolve-by clock


def test_a_restarted_bot_sends_each_missed_step_once(
    bot: Bot, slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """Down from just after the first page until long after the last step: on start, the
    missed steps go out once each, and another replica's tick adds nothing."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    clock.tick(10 * WAIT)
    again = Bot(slack, database_url, escalating_program(), clock)
    other = Bot(slack, database_url, escalating_program(), clock)
    try:
        assert again.settle() == 2
        assert other.settle() == 0
        assert counts(slack) == [1, 1, 1]
    finally:
        again.runtime.engine.dispose()
        other.runtime.engine.dispose()


def test_an_acknowledgement_racing_a_step_wins(
    bot: Bot, slack: SlackEmulator, clock: Clock
) -> None:
    """The tick queued the secondary's page; the primary acknowledges before it is sent: the
    queued page is dropped, and the primary's DM is updated."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    clock.tick(WAIT)
    assert bot.escalation.tick() == 1  # queued, not sent yet
    assert bot.escalation.acknowledge(FEEDBACK, PRIMARY) is AckOutcome.ACKNOWLEDGED
    while bot.runtime.worker.run_once():
        pass
    assert counts(slack) == [1, 0, 0]
    updates = [c for c in slack.calls_to("chat.update") if "Acknowledged by" in str(c.args)]
    assert len(updates) >= 2  # the page DM and the receipt
    clock.tick(10 * WAIT)
    bot.settle()
    assert counts(slack) == [1, 0, 0]
    row = bot.row()
    assert row.acknowledged_by == PRIMARY and row.acknowledged_at == clock.now - dt.timedelta(
        seconds=10 * WAIT
    )


def test_past_resolve_by_one_breach_round_goes_out_and_is_counted(
    bot: Bot, slack: SlackEmulator, clock: Clock
) -> None:
    """Acknowledged but unresolved after resolve_within (1 h): every tier is paged once more,
    flagged "SLA breached", and the breach is counted; nothing after that."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    bot.escalation.acknowledge(FEEDBACK, PRIMARY)
    bot.settle()
    clock.tick(3600)
    bot.settle()
    bot.settle()
    assert counts(slack) == [2, 1, 1]
    assert all("SLA breached" in page for page in paged(slack, SECONDARY))
    row = bot.row()
    assert row.breaches == 1 and row.sla_breached_at == row.resolve_due
    assert row.next_due is None
    clock.tick(3600)
    bot.settle()
    assert counts(slack) == [2, 1, 1]


def test_resolving_the_item_stops_the_climb_and_the_breach_round(
    bot: Bot, slack: SlackEmulator, clock: Clock
) -> None:
    """Jira done (the feedback resolved) before the second tier: nothing else is ever paged."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    with db.make_sessions(bot.runtime.engine).begin() as session:
        session.execute(update(FeedbackRow).values(state="resolved", resolved_at=clock.now))
    clock.tick(2 * 3600)
    bot.settle()
    bot.settle()
    assert counts(slack) == [1, 0, 0]
    row = bot.row()
    assert row.resolved_at == clock.now - dt.timedelta(hours=2) and row.breaches == 0


def test_climbs_in_flight_keep_the_policy_they_started_with(
    bot: Bot, slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """The program file changes (leads first, no secondary) after filing: the climb in flight
    still pages the secondary next; new items follow the new file."""
    bot.runtime.services.feedback.submit(draft())
    bot.settle()
    edited = escalating_program()
    assert edited.escalation is not None
    policy = edited.escalation.policies[0]
    new_steps = policy.model_copy(update={"steps": (policy.steps[-1],)})
    edited = edited.model_copy(
        update={"escalation": edited.escalation.model_copy(update={"policies": (new_steps,)})}
    )
    restarted = Bot(slack, database_url, edited, clock)
    try:
        clock.tick(WAIT)
        restarted.settle()
        assert counts(slack) == [1, 1, 0]
        restarted.runtime.services.feedback.submit(draft("view:V2"))
        restarted.settle()
        assert counts(slack) == [1, 1, 1]  # the new item paged the lead first
    finally:
        restarted.runtime.engine.dispose()


def test_acknowledge_before_the_queued_start_ran_still_counts(
    bot: Bot, slack: SlackEmulator, clock: Clock
) -> None:
    """A lead presses Acknowledge on a receipt whose escalation start is still queued: the
    escalation starts there and then, is acknowledged, and nobody is paged."""
    bot.runtime.services.feedback.submit(draft())
    assert bot.escalation.get(FEEDBACK) is None  # the start is still in the outbox
    assert bot.escalation.acknowledge(FEEDBACK, LEAD) is AckOutcome.ACKNOWLEDGED
    clock.tick(10 * WAIT)
    bot.settle()
    bot.settle()
    assert counts(slack) == [0, 0, 0]
    assert bot.row().acknowledged_by == LEAD


def test_a_tick_claims_its_due_steps_in_as_many_statements_for_thirty_as_for_three(
    bot: Bot, clock: Clock
) -> None:
    """The tick is set-based: the steps due are claimed and their pages queued in a fixed number
    of SQL statements, not a few per item (a burst's thousand steps would otherwise be
    thousands of round trips)."""
    for n in range(3):
        bot.runtime.services.feedback.submit(draft(f"view:small-{n}"))
    bot.settle()
    clock.tick(1)
    for n in range(30):
        bot.runtime.services.feedback.submit(draft(f"view:large-{n}"))
    bot.settle()
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    def statements_of_tick(expected_pages: int) -> int:
        seen.clear()
        event.listen(bot.runtime.engine, "before_cursor_execute", count)
        try:
            assert bot.escalation.tick() == expected_pages
        finally:
            event.remove(bot.runtime.engine, "before_cursor_execute", count)
        while bot.runtime.worker.run_once():
            pass
        return len(seen)

    clock.tick(WAIT - 1)  # the three secondaries fall due
    three = statements_of_tick(3)
    clock.tick(1)  # then the thirty
    thirty = statements_of_tick(30)
    assert three == thirty, (three, thirty)
