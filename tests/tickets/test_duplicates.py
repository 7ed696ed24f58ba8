"""Duplicate Jira issues for one item: the oldest stays, the others are linked, commented and
closed once, whichever search finds them and however often."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.domain import Ticket, TicketCategory
from bot.tickets.duplicates import split_duplicates
from bot.tickets.subjects import CLOSE_DUPLICATE
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import bot_settings
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.support import wait_outbox_drained, wait_until

EMAIL, TOKEN = "bot@example.com", "dup-test-token"
LABEL = "hypercare-hc-1"  # the idempotency label of the first report


class ShiftedClock:
    """The wall clock, shifted when a test needs an issue Jira created "earlier"."""

    def __init__(self) -> None:
        self.shift = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.shift


@pytest.fixture
def jira_clock() -> ShiftedClock:
    """The Jira emulator's clock."""
    return ShiftedClock()


@pytest.fixture
def jira(jira_clock: ShiftedClock) -> Iterator[JiraEmulator]:
    """A Jira Cloud emulator on the shiftable clock."""
    emulator = JiraEmulator(email=EMAIL, api_token=TOKEN, clock=jira_clock).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def close_with() -> str:
    """The program's duplicate transition (overridden where a test wants another)."""
    return "Done"


@pytest.fixture
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, program: Program, close_with: str
) -> Iterator[Runtime]:
    """The bot in HTTP mode with Jira connected (short timeouts, fast pacing)."""
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": EMAIL,
            "jira_api_token": SecretStr(TOKEN),
            "jira_read_timeout": 2.0,
        }
    )
    assert program.jira is not None
    mapping = program.jira.model_copy(
        update={"max_requests_per_second": 50, "duplicate_transition": close_with}
    )
    runtime = build_runtime(settings, program.model_copy(update={"jira": mapping})).start()
    yield runtime
    runtime.stop()


def file_report(user: SlackUserSimulator, slack: SlackEmulator) -> None:
    """File one sev1 report (it opens a ticket on its own)."""
    assert user.submit_view(open_modal(user, slack), good_values()).status_code == 200


def stored_key(bot: Runtime) -> str | None:
    """The ticket key recorded for the first report."""
    feedback = bot.services.feedback.get(1)
    return feedback.ticket_key if feedback else None


def open_twin(jira: JiraEmulator, summary: str = "[HC-1] twin") -> str:
    """Create, as a late create of the bot's would have, another issue with the report's label."""
    fields: dict[str, Any] = {
        "project": {"key": "HYP"},
        "issuetype": {"name": "Bug"},
        "summary": summary,
        "labels": ["hypercare", LABEL],
    }
    with httpx.Client(base_url=jira.url, auth=(EMAIL, TOKEN), timeout=5) as client:
        answer = client.post("/rest/api/2/issue", json={"fields": fields})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def status(jira: JiraEmulator, key: str) -> str:
    """An issue's status name in the emulator."""
    return str(jira.issue(key)["fields"]["status"]["name"])


def duplicate_notes(slack: SlackEmulator) -> list[str]:
    """The texts of the thread notes about duplicates."""
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and "as a duplicate" in c.args.get("text", "")
    ]


def ticketed(bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator) -> str:
    """File the report and wait until its ticket is recorded and announced."""
    file_report(user, slack)
    key = str(wait_until(lambda: stored_key(bot), timeout=30))
    wait_outbox_drained(bot.engine)
    return key


def test_the_oldest_issue_is_the_keeper_by_creation_then_number() -> None:
    """The keeper is the earliest created issue; the key's number settles a tie."""
    at = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)

    def issue(key: str, seconds: int) -> Ticket:
        return Ticket(
            key, "", "To Do", TicketCategory.NEW, created=at + dt.timedelta(seconds=seconds)
        )

    split = split_duplicates([issue("HYP-10", 5), issue("HYP-9", 5), issue("HYP-12", 1)])
    assert split is not None and split.keeper.key == "HYP-12"
    assert [t.key for t in split.others] == ["HYP-9", "HYP-10"]
    assert split_duplicates([issue("HYP-3", 0), issue("HYP-3", 0)]) is None


def test_three_issues_for_one_report_leave_the_oldest_open(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """With three issues for one report, the two younger are linked, commented and closed."""
    keeper = ticketed(bot, user, slack)
    twins = [open_twin(jira), open_twin(jira)]
    assert bot.services.tickets.reconcile(60) == 1
    wait_until(lambda: len(duplicate_notes(slack)) == 2, timeout=30)
    wait_outbox_drained(bot.engine)
    assert stored_key(bot) == keeper and status(jira, keeper) == "To Do"
    for twin in twins:
        assert status(jira, twin) == "Done"
        assert jira.links(twin) == [("duplicates", keeper)]
        [comment] = jira.comments(twin)
        assert f"duplicates {keeper}" in comment["body"]
    assert sorted(k for _, k in jira.links(keeper)) == twins
    notes = duplicate_notes(slack)
    for twin in twins:
        [note] = [n for n in notes if n.startswith(f":link: Jira had opened {twin} ")]
        assert "closed" in note and f"{keeper} stays the ticket" in note


def test_a_stored_younger_duplicate_gives_way_to_the_older_issue(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    jira: JiraEmulator,
    jira_clock: ShiftedClock,
) -> None:
    """When the stored ticket is the younger issue, the older one becomes the ticket."""
    stored = ticketed(bot, user, slack)
    jira_clock.shift = -dt.timedelta(minutes=2)  # Jira ran this create first; it shows only now
    older = open_twin(jira)
    jira_clock.shift = dt.timedelta()
    bot.services.tickets.sync(5)
    wait_until(lambda: duplicate_notes(slack), timeout=30)
    wait_outbox_drained(bot.engine)
    assert stored_key(bot) == older
    assert status(jira, stored) == "Done" and status(jira, older) == "To Do"
    assert jira.links(stored) == [("duplicates", older)]
    receipt = slack.calls_to("chat.update")[-1]
    assert older in str(receipt.args["blocks"])  # the receipt shows the ticket that stays
    [note] = duplicate_notes(slack)
    assert note.startswith(f":link: Jira had opened {stored} as well as {older} for HC-1")
    feedback = bot.services.tickets.lookup(older)
    assert feedback is not None and feedback.short_id == "HC-1"


@pytest.mark.parametrize("close_with", ["Close as duplicate"])
def test_without_the_close_transition_the_duplicate_stays_open_linked_and_commented(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    jira: JiraEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A workflow without the configured transition leaves the duplicate open, with a warning."""
    keeper = ticketed(bot, user, slack)
    twin = open_twin(jira)
    with caplog.at_level(logging.WARNING, logger="bot.integrations.jira"):
        bot.services.tickets.reconcile(60)
        [note] = wait_until(lambda: duplicate_notes(slack), timeout=30)
    assert status(jira, twin) == "To Do"
    assert jira.links(twin) == [("duplicates", keeper)] and len(jira.comments(twin)) == 1
    assert "left open" in note and "close it by hand" in note
    assert any("no transition 'Close as duplicate'" in r.getMessage() for r in caplog.records)
    assert not jira.calls_to("POST", f"/rest/api/2/issue/{twin}/transitions")


def test_healing_again_or_from_every_search_does_the_work_once(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """Reconciling, polling and replaying the closing again link, comment, close and note once."""
    keeper = ticketed(bot, user, slack)
    twin = open_twin(jira)
    bot.services.tickets.reconcile(60)
    wait_until(lambda: duplicate_notes(slack), timeout=30)
    wait_outbox_drained(bot.engine)
    bot.services.tickets.reconcile(60)
    bot.services.tickets.sync(5)
    # The outbox retrying the closing after a crash that came before the row was marked done.
    payload = {"feedback_id": 1, "duplicate": twin, "keeper": keeper, "name": "HC-1"}
    bot.services.tickets.handlers()[CLOSE_DUPLICATE](payload)
    wait_outbox_drained(bot.engine)
    assert len(duplicate_notes(slack)) == 1
    assert jira.links(twin) == [("duplicates", keeper)] and len(jira.comments(twin)) == 1
    assert len(jira.calls_to("POST", f"/rest/api/2/issue/{twin}/transitions")) == 1
    assert status(jira, twin) == "Done" and stored_key(bot) == keeper


def test_the_search_before_a_create_adopts_the_oldest_and_closes_the_rest(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """A create whose search finds two issues adopts the older and closes the younger."""
    first, second = open_twin(jira, "[HC-1] first"), open_twin(jira, "[HC-1] second")
    file_report(user, slack)
    assert wait_until(lambda: stored_key(bot), timeout=30) == first
    wait_until(lambda: duplicate_notes(slack), timeout=30)
    wait_outbox_drained(bot.engine)
    creates = [c for c in jira.calls_to("POST", "/rest/api/2/issue") if c.path.endswith("/issue")]
    assert len(creates) == 2 and len(jira.issues()) == 2  # the test's two; the bot made none
    assert status(jira, first) == "To Do" and status(jira, second) == "Done"
    assert jira.links(second) == [("duplicates", first)]
