"""End to end: who is on call, and hand-off notices posted once per change."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET, bot_settings
from tests.e2e.test_alert_flow import Clock
from tests.support import wait_until


@pytest.fixture
def oncall_bot(
    slack: SlackEmulator, database_url: str, program_with_oncall: Program
) -> Iterator[tuple[Runtime, Clock]]:
    """The bot with the example rotas, on a clock just after Monday's 09:00 hand-off (Berlin)."""
    clock = Clock()
    clock.now = dt.datetime(2026, 11, 23, 8, 0, 30, tzinfo=dt.UTC)  # 09:00:30 in Berlin
    runtime = build_runtime(bot_settings(slack, database_url), program_with_oncall, clock=clock)
    yield runtime.start(), clock
    runtime.stop()


def handoff_posts(slack: SlackEmulator) -> list[str]:
    """Hand-off notices the bot posted."""
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and "hand-off" in c.args.get("text", "")
    ]


def test_oncall_command_shows_who_is_on_call_now_and_next(
    oncall_bot: tuple[Runtime, Clock], slack: SlackEmulator
) -> None:
    """`/hypercare oncall` answers privately with both rotas' people and next hand-offs."""
    runtime, _ = oncall_bot
    user = SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, slack
    )
    body = user.slash_command("oncall").json()
    assert body["response_type"] == "ephemeral"
    text = json.dumps(body["blocks"])
    assert "*Primary:* <@U0ADMIN1>" in text  # second week of the weekly rota
    assert "ops-lead@example.com" in text and "next:" in text


def test_each_handoff_is_announced_once_even_from_two_replicas(
    oncall_bot: tuple[Runtime, Clock],
    slack: SlackEmulator,
    database_url: str,
    program_with_oncall: Program,
) -> None:
    """Monday 09:00's hand-offs are posted once, however often and from however many replicas."""
    runtime, clock = oncall_bot
    posts = wait_until(lambda: len(handoff_posts(slack)) == 2 and handoff_posts(slack))
    assert any("<@U0LEAD1> → <@U0ADMIN1>" in p for p in posts)  # the weekly rota
    assert any("_nobody_ → ops-lead@example.com" in p for p in posts)  # office hours begin
    assert all("posted late" not in p for p in posts)
    other = build_runtime(bot_settings(slack, database_url), program_with_oncall, clock=clock)
    assert runtime.services.oncall is not None and other.services.oncall is not None
    again = runtime.services.oncall.announce_handoffs() + other.services.oncall.announce_handoffs()
    assert again == 0
    other.engine.dispose()
    assert len(handoff_posts(slack)) == 2


def test_a_handoff_missed_while_down_is_posted_once_marked_late(
    slack: SlackEmulator, database_url: str, program_with_oncall: Program
) -> None:
    """Started 20 minutes after a hand-off, the bot posts it once and says it is late."""
    clock = Clock()
    clock.now = dt.datetime(2026, 11, 23, 8, 20, tzinfo=dt.UTC)
    runtime = build_runtime(bot_settings(slack, database_url), program_with_oncall, clock=clock)
    runtime.start()
    try:
        posts = wait_until(lambda: len(handoff_posts(slack)) == 2 and handoff_posts(slack))
        assert all("posted late" in p for p in posts)
        assert runtime.services.oncall is not None
        assert runtime.services.oncall.announce_handoffs() == 0
    finally:
        runtime.stop()
