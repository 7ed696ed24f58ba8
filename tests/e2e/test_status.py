"""End to end: `/hypercare status` and the Home tab, from seeded activity."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from bot.app.build import Runtime
from bot.config import Program
from bot.domain import ItemKind, ItemRef
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET
from tests.e2e.test_alert_flow import Clock
from tests.e2e.test_digest import MONDAY_0859, digest_file, draft, seed, start
from tests.support import wait_until


def status_program() -> Program:
    """The digest program with the example's exit criteria."""
    raw = digest_file()
    raw["reports"]["exit_criteria"] = [
        {"no_open_severity": {"severity": "sev1", "days": 7}},
        {"no_sla_breach": {"days": 5}},
        "no_unowned_items",
    ]
    return Program.model_validate(raw)


@pytest.fixture
def clock() -> Clock:
    """Friday 20 Nov, 16:00 Berlin."""
    moving = Clock()
    moving.now = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    return moving


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, clock: Clock) -> Iterator[Runtime]:
    """The bot with exit criteria."""
    runtime = start(slack, database_url, clock, status_program())
    yield runtime
    runtime.stop()


@pytest.fixture
def user(bot: Runtime, slack: SlackEmulator) -> Iterator[SlackUserSimulator]:
    """A signed Slack user."""
    url = f"http://127.0.0.1:{bot.port}/slack/events"
    with SlackUserSimulator(url, SIGNING_SECRET, slack) as simulator:
        yield simulator


def test_status_shows_each_criterion_the_window_and_the_verdict(
    bot: Runtime, user: SlackUserSimulator, clock: Clock
) -> None:
    """With an open, breached sev1 and unowned items: not ready, each criterion says why."""
    seed(bot, clock)
    clock.now = MONDAY_0859
    escalation = bot.services.escalation
    assert escalation is not None
    sev1 = ItemRef(ItemKind.FEEDBACK, 6)
    wait_until(lambda: (record := escalation.get(sev1)) is not None and record.breaches == 1)
    body = user.slash_command("status").json()
    assert body["response_type"] == "ephemeral"
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "Not ready to exit hypercare yet" in text
    assert "Day 8 of hypercare · 25 day(s) left" in text
    assert text.count(":x:") == 3
    assert "*No open sev1 for 7 days* — sev1 open now" in text
    assert "*No SLA breach for 5 days* — 1 breach in the last 5 days" in text
    assert "4 open items without an owner" in text  # acknowledged is not owned
    # Then the owners: how many open items nobody owns, and the asker's own.
    assert ":warning: 4 of 4 open item(s) without an owner" in text
    assert "You own no open items" in text
    assert bot.services.owners.take(6, "U0ALICE").feedback is not None
    text = json.dumps(user.slash_command("status").json()["blocks"], ensure_ascii=False)
    assert ":warning: 3 of 4 open item(s) without an owner" in text
    assert "*My open items*" in text and "HC-6" in text


def test_with_nothing_open_the_verdict_is_not_ready_until_the_streaks_are_long_enough(
    bot: Runtime, user: SlackUserSimulator
) -> None:
    """A fresh program has nothing open: the no-unowned criterion is met at once."""
    text = json.dumps(user.slash_command("status").json()["blocks"], ensure_ascii=False)
    assert ":white_check_mark:" in text


def test_the_home_tab_shows_the_program_and_the_viewers_own_reports(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """Opening Home publishes the open counts, who is on call, readiness and my reports."""
    seed(bot, clock)
    bot.services.feedback.submit(draft(7))
    assert user.open_app_home(user_id="U0ALICE").status_code == 200
    home = wait_until(lambda: "U0ALICE" in slack_homes(slack) and slack.home("U0ALICE"))
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Payments platform go-live" in text
    assert "Critical: *1*" in text and "Medium: *4*" in text
    assert "Primary: <@U0PRIM>" in text
    assert "*Your reports* (7)" in text and "HC-7" in text
    assert user.open_app_home(user_id="U0NOBODY").status_code == 200
    empty = wait_until(lambda: "U0NOBODY" in slack_homes(slack) and slack.home("U0NOBODY"))
    assert "You have not filed anything." in json.dumps(empty["blocks"])


def slack_homes(slack: SlackEmulator) -> set[str]:
    """Users with a published Home tab."""
    return {str(c.args.get("user_id")) for c in slack.calls_to("views.publish") if c.status == 200}
