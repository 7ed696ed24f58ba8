"""End to end: the stand-up digest, from seeded activity to the message in the digest channel.

The bot runs on a clock the test moves; the digest check runs every 0.1 s of real time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.domain import FeedbackDraft, ItemKind, ItemRef, UsersAffected
from bot.slack.blocks.digest import digest_text
from sandbox.demo.samples import feedback_draft
from sandbox.slack import SlackEmulator
from storage import db
from storage.models import FeedbackRow
from tests.conftest import bot_settings
from tests.e2e.test_alert_flow import Clock
from tests.e2e.test_escalation import PRIMARY, escalating_file
from tests.support import wait_until

DIGEST = "C0DIGEST"
# Monday 23 Nov 2026, 08:59 in Berlin: a minute before the daily digest.
MONDAY_0859 = dt.datetime(2026, 11, 23, 7, 59, tzinfo=dt.UTC)


def digest_file(top: int = 3) -> dict[str, Any]:
    """The escalating example program file with digests in C0DIGEST, top `top` per section."""
    raw = escalating_file()
    raw["channels"]["digest"] = DIGEST
    raw["reports"] = {"daily": {"at": "09:00", "top": top}}
    return raw


def digest_program(top: int = 3) -> Program:
    """The program of `digest_file`."""
    return Program.model_validate(digest_file(top))


def draft(index: int, severity: str = "sev3") -> FeedbackDraft:
    """A draft; sev1 escalates, sev3 does not."""
    return feedback_draft(
        summary=f"Problem {index} <@U0EVIL> *bold*",
        category="bug" if index % 2 else "usability",
        severity=severity,
        users_affected=UsersAffected.ONE,
        submission_key=f"view:{index}",
    )


@pytest.fixture
def clock() -> Clock:
    """Friday 20 Nov, 16:00 Berlin: Friday's digest is past its 6-hour grace."""
    moving = Clock()
    moving.now = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    return moving


def start(slack: SlackEmulator, url: str, clock: Clock, program: Program) -> Runtime:
    """A running bot checking for due digests every 0.1 s."""
    settings = bot_settings(slack, url).model_copy(
        update={"digest_check_seconds": 0.1, "escalation_tick_seconds": 0.1}
    )
    return build_runtime(settings, program, clock=clock).start()


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, clock: Clock) -> Iterator[Runtime]:
    """The bot with digests on."""
    runtime = start(slack, database_url, clock, digest_program())
    yield runtime
    runtime.stop()


def digests(slack: SlackEmulator) -> list[Any]:
    """Stand-up digests in the digest channel (not thread replies, not weekly reviews)."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == DIGEST
        and not c.args.get("thread_ts")
        and c.status == 200
        and "Stand-up digest" in str(c.args.get("text"))
    ]


def seed(runtime: Runtime, clock: Clock) -> None:
    """Over the weekend: five sev3 reports (two resolved) and a sev1 the primary acknowledged."""
    services = runtime.services
    for index in range(1, 6):
        clock.tick(3600)
        services.feedback.submit(draft(index))
    clock.tick(3600)
    sev1 = services.feedback.submit(draft(6, "sev1")).feedback
    wait_until(
        lambda: (
            runtime.services.escalation
            and runtime.services.escalation.get(ItemRef(ItemKind.FEEDBACK, sev1.id))
        )
    )
    assert runtime.services.escalation is not None
    runtime.services.escalation.acknowledge(ItemRef(ItemKind.FEEDBACK, sev1.id), PRIMARY)
    with db.make_sessions(runtime.engine).begin() as session:
        session.execute(
            update(FeedbackRow)
            .where(FeedbackRow.id.in_([1, 2]))
            .values(state="resolved", resolved_at=clock.now)
        )


def test_the_daily_digest_is_posted_once_at_nine_with_every_section(
    bot: Runtime, slack: SlackEmulator, clock: Clock
) -> None:
    """At 09:00 Monday one digest lands: new, resolved, open (cut to 3 + "and N more", full list
    in the thread), escalations with who acknowledged, today's on-call; user text is inert."""
    seed(bot, clock)
    clock.now = MONDAY_0859
    wait_until(lambda: bot.services.escalation is not None)
    assert digests(slack) == []
    clock.tick(60)
    [posted] = wait_until(lambda: digests(slack))
    text = json.dumps(posted.args["blocks"], ensure_ascii=False)
    assert "Stand-up digest" in text and "Mon 23 Nov" in text
    assert "*New feedback* (6)" in text and "sev1 1 · sev3 5" in text
    assert "*Resolved* (2)" in text
    assert "*Open items* (4)" in text and "…and 1 more" in text
    assert f"acknowledged by <@{PRIMARY}>" in text
    assert "On call today: primary <@U0PRIM>" in text
    assert "<@U0EVIL>" not in text and "&lt;@U0EVIL&gt;" in text
    assert "No alerts fired." in text

    def replies() -> list[str]:
        return [
            c.args["text"]
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("thread_ts") == posted.response["ts"]
        ]

    # New feedback (6), open items (4) and needs a decision (4: three unowned, one breached)
    # were cut to three: each comes in full in the thread.
    titles = wait_until(lambda: len(replies()) == 3 and [r.split("\n")[0] for r in replies()])
    assert titles == [
        "*New feedback* — full list (6)",
        "*Open items* — full list (4)",
        "*Needs a decision* — full list (4)",
    ]
    assert ":warning:" in replies()[1].split("\n")[1]  # the breached sev1 leads the open items
    clock.tick(3600)
    assert bot.services.digests is not None and not bot.services.digests.post_due()
    assert len(digests(slack)) == 1


def test_a_digest_missed_while_down_is_posted_once_marked_late(
    slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """Started at 11:30 Monday (grace 6 h): Monday's digest goes out once, late; two replicas
    asking at once post it once."""
    clock.now = MONDAY_0859 + dt.timedelta(hours=2, minutes=31)
    first = start(slack, database_url, clock, digest_program())
    second = start(slack, database_url, clock, digest_program())
    try:
        [posted] = wait_until(lambda: digests(slack))
        assert "posted late" in json.dumps(posted.args["blocks"])
        assert first.services.digests and second.services.digests
        assert not first.services.digests.post_due() and not second.services.digests.post_due()
        assert len(digests(slack)) == 1
    finally:
        first.stop()
        second.stop()


def test_a_digest_missed_beyond_the_grace_period_is_skipped(
    slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """Back at 16:00 Monday, beyond the 6 h grace: no digest until Tuesday's."""
    clock.now = MONDAY_0859 + dt.timedelta(hours=7)
    runtime = start(slack, database_url, clock, digest_program())
    try:
        assert runtime.services.digests is not None
        assert not runtime.services.digests.post_due()
        assert digests(slack) == []
    finally:
        runtime.stop()


def test_empty_sections_say_so_and_the_dry_run_text_matches(bot: Runtime, clock: Clock) -> None:
    """With nothing to report every section is one line saying so."""
    assert bot.services.digests is not None
    text = digest_text(bot.program, bot.services.digests.daily(until=MONDAY_0859))
    for line in ("No new feedback.", "No open items.", "Nothing waits for a decision."):
        assert line in text


def test_the_period_runs_from_the_previous_digest_across_a_dst_change(bot: Runtime) -> None:
    """Monday 26 Oct 09:00 CET covers from Friday 23 Oct 09:00 CEST: 73 hours, not 72."""
    assert bot.services.digests is not None
    monday = dt.datetime(2026, 10, 26, 8, 0, tzinfo=dt.UTC)  # 09:00 CET
    digest = bot.services.digests.daily(until=monday)
    assert digest.since == dt.datetime(2026, 10, 23, 7, 0, tzinfo=dt.UTC)  # 09:00 CEST
    assert digest.until - digest.since == dt.timedelta(hours=73)


def test_dry_run_prints_the_digest_without_posting(
    bot: Runtime,
    slack: SlackEmulator,
    database_url: str,
    clock: Clock,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`hypercare-bot digest daily --dry-run --at …` prints the digest and posts nothing."""
    import yaml

    from bot.cli import main

    seed(bot, clock)
    program_file = tmp_path / "hypercare.yaml"
    program_file.write_text(yaml.safe_dump(digest_file()))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("HYPERCARE_CONFIG", str(program_file))
    assert main(["digest", "daily", "--dry-run", "--at", "2026-11-23T09:00"]) == 0
    out = capsys.readouterr().out
    assert "Stand-up digest · Payments platform go-live · Mon 23 Nov" in out
    assert "Since Fri 20 Nov 09:00 (Europe/Berlin)" in out and "*New feedback* (6)" in out
    assert digests(slack) == []
    assert main(["digest", "daily"]) == 2  # posting is the running bot's job
    monkeypatch.delenv("HYPERCARE_CONFIG")  # the program file as an argument instead
    at = ["--dry-run", "--at", "2026-11-23T09:00"]
    assert main(["digest", "daily", str(program_file), *at]) == 0
    assert "*New feedback* (6)" in capsys.readouterr().out
