"""End to end: the hypercare closing report, `/hypercare exit-report` and `report exit`.

Three weeks of hypercare are played through Slack and Jira on a clock the test moves: a sev1
that Jira tickets, someone takes, a lead resolves and its owner explains; a sev3 with a hostile
summary that becomes a known issue; a lesson; gateway figures. The report then lands in the
digest channel as one message with its Markdown and PNG files, once, whatever is retried.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.cli import main
from bot.config import Program
from bot.domain import Satisfaction, SatisfactionWeek
from bot.reports.build import build_exit_report
from bot.reports.exit import ExitOutcome
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage import db
from tests.conftest import ROOT, SIGNING_SECRET, bot_settings
from tests.e2e import test_jira_flow
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.e2e.test_jira_flow import HOOK_SECRET, JIRA_EMAIL, JIRA_TOKEN, ticket_of
from tests.e2e.test_lessons import initial, lesson_modal
from tests.e2e.test_owners_rca import ROOT_CAUSE, root_cause_modal
from tests.e2e.test_weekly import gateway_hour
from tests.support import outbox_pending, wait_outbox_drained, wait_until

DIGEST = "C0DIGEST"
LEAD, MEMBER = "U0LEAD1", "U0BOB"
GO_LIVE_DAY_2 = dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC)  # Tue 17 Nov, 10:00 Berlin
AS_OF = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # Mon 7 Dec, 11:00 Berlin: week 4
HOSTILE = "Refund | page *slow* <b>x</b> # not a heading [link](http://evil.example)"
WORKAROUND = "Use the | old *refund* form\n## until the fix"

jira = test_jira_flow.jira  # the Jira emulator with the example's project


def program_file() -> dict[str, Any]:
    """The example program with the digest channel, no scheduled digests (the test asks for
    the report itself) and no on-call, as YAML loads it."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())
    raw["channels"]["digest"] = DIGEST
    raw["reports"]["daily"]["enabled"] = False
    raw["reports"]["weekly"]["enabled"] = False
    raw.pop("oncall", None)
    raw.pop("escalation", None)
    raw["jira"]["max_requests_per_second"] = 50
    return raw


class Clock:
    """Time that runs (the outbox's short waits for a receipt come due) from where the test
    puts it: day 2 of the hypercare, then three weeks on."""

    def __init__(self, start: dt.datetime) -> None:
        self._offset = start - self._real()

    @staticmethod
    def _real() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._real() + self._offset

    def set(self, moment: dt.datetime) -> None:
        """Jump to `moment` (forward or back); time runs on from there."""
        self._offset = moment - self._real()

    def tick(self, seconds: float) -> None:
        """Jump `seconds` ahead."""
        self._offset += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """Day 2 of the hypercare."""
    return Clock(GO_LIVE_DAY_2)


@pytest.fixture
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, clock: Clock
) -> Iterator[Runtime]:
    """The bot with Jira and a digest channel, on the test's clock."""
    slack.add_channel(DIGEST, "hypercare-digest")
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_TOKEN),
            "jira_webhook_secret": SecretStr(HOOK_SECRET),
            "jira_read_timeout": 1.0,
        }
    )
    runtime = build_runtime(settings, Program.model_validate(program_file()), clock=clock)
    runtime.start()
    yield runtime
    runtime.stop()


def command(user: SlackUserSimulator, text: str, who: str) -> str:
    """Run `/hypercare <text>` as `who` and return the private answer."""
    answer = user.slash_command(text, user_id=who).json()
    assert answer["response_type"] == "ephemeral"
    return str(answer["text"])


def play_three_weeks(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """A sev1 (ticketed, taken, resolved, explained), a hostile sev2 (ticketed) made a known
    issue, a lesson and a day of gateway figures."""
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values()).status_code == 200
    ticket_of(bot, 1)
    clock.tick(86400)
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values(summary=HOSTILE, severity="sev2")).status_code == 200
    ticket_of(bot, 2)
    receipt = slack.wait_for("chat.postMessage")[0]
    user.click_button(
        action_id="take-item",
        value="1",
        message_ts=receipt.response["ts"],
        channel_id=receipt.args["channel"],
        user_id=MEMBER,
    )
    wait_until(lambda: getattr(bot.services.feedback.get(1), "owner_id", None) == MEMBER)
    clock.tick(3 * 3600)
    assert bot.services.owners.resolve(1, LEAD).feedback is not None
    rca = root_cause_modal(user, slack, MEMBER)
    assert user.submit_view(rca, ROOT_CAUSE, user_id=MEMBER).status_code == 200
    workaround = WORKAROUND.replace("<", "&lt;").replace(">", "&gt;")
    assert "known issue" in command(user, f"known HC-2 {workaround}", LEAD)
    form = lesson_modal(user, slack, "lesson Certificate expiry | needs an *alert*, see HC-1")
    values = {
        "lesson-text": initial(form, "lesson-text"),
        "lesson-kind": "to_improve",
        "lesson-items": "HC-1",
    }
    assert user.submit_view(form, values, user_id=LEAD).json()["response_action"] == "update"
    with db.make_sessions(bot.engine).begin() as session:
        hour = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
        session.add_all(gateway_hour(hour))
    wait_outbox_drained(bot.engine, timeout=30)


def unescaped_pipes(line: str) -> int:
    """The `|` of a table row that separate cells (an escaped `\\|` is text)."""
    return len(re.findall(r"(?<!\\)\|", line))


def check_tables(markdown: str) -> None:
    """Every table row has as many cells as its header: no user text broke out of a cell."""
    header = 0
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = 0
        elif header == 0:
            header = unescaped_pipes(line)
        else:
            assert unescaped_pipes(line) == header, line


def test_a_lead_posts_the_closing_report_to_the_digest_channel_once(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator, clock: Clock
) -> None:
    """A member is refused; a lead is told it is being built, then one message in the digest
    channel shares the Markdown and its charts, though the first share failed and the
    command was sent twice. The Markdown hands over what was played, user text inert."""
    play_three_weeks(bot, user, slack, clock)
    clock.set(AS_OF)
    queued = outbox_pending(bot.engine)
    assert "Only hypercare leads" in command(user, "exit-report", MEMBER)
    assert outbox_pending(bot.engine) == queued
    slack.fail_next("files.completeUploadExternal", status=503)
    answer = command(user, "exit-report", LEAD)
    assert "Building the hand-over report…" in answer and f"<#{DIGEST}>" in answer
    assert "Building" in command(user, "Exit Report", LEAD)  # the same minute: one report
    files = wait_until(lambda: slack.files(DIGEST), timeout=30)
    wait_outbox_drained(bot.engine, timeout=30)
    files = slack.files(DIGEST)
    names = [f["filename"] for f in files]
    assert names[0] == "exit-report.md" and len(names) == len(set(names))
    assert {f["message_ts"] for f in files} == {files[0]["message_ts"]}  # one message
    assert len(slack.calls_to("files.completeUploadExternal")) == 2  # the failure, the share
    comment = str(files[0]["initial_comment"])
    assert "Hypercare closing report" in comment and f"<@{LEAD}>" in comment
    assert "*not ready* to exit hypercare" in comment
    markdown = files[0]["content"].decode()
    check_tables(markdown)
    assert markdown.startswith("# Hypercare closing report: Payments platform go\\-live\n")
    assert "_As of 2026-12-07 11:00 (Europe/Berlin)." in markdown
    assert "- **Covered:** 2026-11-16 00:00 (Europe/Berlin) to 2026-12-07 11:00" in markdown
    assert "(day 22 of 33, 11 days left)" in markdown
    assert "| Critical | 1 | 1 | 0 | 0 | — | 27.0 h |" in markdown  # MTTR: filed → resolved
    assert "| High | 1 | 0 | 1 | 0 | — | — |" in markdown and "| **All** | **2** |" in markdown
    assert "| 1 | 2026-11-16 | 2 | 1 | 1 | 0 | 1.00 % | 300 ms |" in markdown
    assert "| 1 | — / 27.0 h | — | — | — |" in markdown  # MTTA / MTTR per week
    assert "| 4 (so far) | 2026-12-07 | 0 | 0 | 1 | 0 | — | — |" in markdown
    assert "_No user pulse answers in the window._" in markdown
    assert "| Every open item has an owner | **not met** | 1 open item without an owner |" in (
        markdown
    )
    # HC-1 was resolved; HC-2 is handed over, its summary escaped into one cell.
    assert "## Open items handed over (1)" in markdown
    [row] = [line for line in markdown.splitlines() if line.startswith("| [HC-2]")]
    escaped = (
        r"Refund \| page \*slow\* &lt;b&gt;x&lt;/b&gt; \# not a heading "
        r"\[link\]\(http://evil\.example\)"
    )
    ticket = f"[HYP\\-2](<{jira.url}/browse/HYP-2>)"
    assert f"| High | {escaped} | **nobody** | {ticket}" in row and "| 19 d 0 h |" in row
    assert "<b>" not in markdown and "\n## until" not in markdown
    assert r"  - Workaround: Use the \| old \*refund\* form \#\# until the fix" in markdown
    assert "| Third party | 1 | [HC-1](<https://" in markdown
    assert r"- Certificate expiry \| needs an \*alert\*, see HC\-1 (L-1, @U0LEAD1" in markdown
    linked = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", markdown)
    assert sorted(linked) == sorted(names[1:]) and "feedback-flow-2026-11-16.png" in linked
    flow = next(f for f in files if f["filename"] == "feedback-flow-2026-11-16.png")
    plotted = json.loads(Image.open(io.BytesIO(flow["content"])).text["hypercare:series"])
    assert plotted["categories"][0] == "2026-11-16" and plotted["categories"][-1] == "2026-12-07"
    assert plotted["series"]["opened:sev1"][1] == 1  # Tuesday 17 Nov
    assert len(slack.files(DIGEST)) == len(files)  # nothing more came


def test_the_report_is_refused_before_go_live_for_an_empty_window_and_to_members(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """Before go-live, or with nothing recorded yet, a lead is told why there is no report;
    a member is refused first. Nothing is queued or posted."""
    clock.set(dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC))
    before = outbox_pending(bot.engine)
    assert "Hypercare starts on Mon 16 Nov 2026" in command(user, "exit-report", LEAD)
    assert "Only hypercare leads" in command(user, "exit-report", MEMBER)
    clock.set(GO_LIVE_DAY_2)
    answer = command(user, "exit-report", LEAD)
    assert "Nothing was recorded in the hypercare window yet" in answer
    assert "Nothing was posted" in answer
    assert outbox_pending(bot.engine) == before
    wait_outbox_drained(bot.engine)
    assert slack.files() == [] and slack.calls_to("files.getUploadURLExternal") == []


class Pulse:
    """A user pulse's answers as the report reads them: three weeks, one without answers."""

    def __init__(self) -> None:
        self.asked: list[tuple[dt.datetime, dt.datetime]] = []

    def weekly_satisfaction(self, since: dt.datetime, until: dt.datetime) -> list[SatisfactionWeek]:
        self.asked.append((since, until))
        return [
            SatisfactionWeek(dt.date(2026, 11, 23), 4, 75.0, 4.0),
            SatisfactionWeek(dt.date(2026, 11, 16), 0, None, None),
            SatisfactionWeek(dt.date(2026, 11, 9), 2, 50.0, 3.5),
        ]

    def satisfaction(self, since: dt.datetime, until: dt.datetime) -> Satisfaction:
        return Satisfaction.of([5, 4, 4, 2, 5, 3])


def test_a_user_pulse_feeds_the_satisfaction_trend_and_an_empty_window_still_builds(
    bot: Runtime, clock: Clock
) -> None:
    """The report asks the pulse for the window up to its instant and shows the weeks with
    answers, oldest first; built on a window with nothing in it, every section says so."""
    pulse = Pulse()
    sessions = db.make_sessions(bot.engine)
    service = build_exit_report(bot.program, sessions, clock, satisfaction=pulse)
    files = service.files(service.build(AS_OF))
    assert pulse.asked == [(dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC), AS_OF)]
    markdown = files[0].content.decode()
    assert "| 2026-11-09 | 2 | 50 % | 3.50 |\n| 2026-11-23 | 4 | 75 % | 4.00 |" in markdown
    assert "_No open items: nothing is handed over._" in markdown
    # A backlog of zero is worth drawing; the other charts would be placeholders: named only.
    assert [f.filename for f in files] == ["exit-report.md", "backlog-2026-11-16.png"]
    assert "- Feedback opened and resolved per day: no data in the window." in markdown
    assert service.refusal(AS_OF) is ExitOutcome.EMPTY_WINDOW


def test_without_a_digest_channel_the_lead_is_told_where_to_set_one(
    slack: SlackEmulator, database_url: str, program: Program
) -> None:
    """The conftest program has no digest channel: the answer names `channels.digest` and
    the command line."""
    runtime = build_runtime(bot_settings(slack, database_url), program).start()
    url = f"http://127.0.0.1:{runtime.port}/slack/events"
    user = SlackUserSimulator(url, SIGNING_SECRET, slack)
    try:
        answer = command(user, "exit-report", LEAD)
    finally:
        user.close()
        runtime.stop()
    assert "`channels.digest`" in answer and "hypercare-bot report exit --out DIR" in answer


def test_report_exit_writes_the_same_markdown_and_charts_twice(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`hypercare-bot report exit --out DIR --at …` writes exit-report.md and the PNGs it
    links; a second run is byte-identical. Without --out the Markdown goes to stdout; before
    go-live there is no report and nothing is written."""
    play_three_weeks(bot, user, slack, clock)
    config = tmp_path / "hypercare.yaml"
    config.write_text(yaml.safe_dump(program_file()), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", bot.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HYPERCARE_CONFIG", str(config))
    runs = [tmp_path / "first", tmp_path / "second"]
    for out in runs:
        assert main(["report", "exit", "--out", str(out), "--at", "2026-12-07T11:00"]) == 0
        assert f"closing report written to {out / 'exit-report.md'}" in capsys.readouterr().out
    first = {p.name: p.read_bytes() for p in sorted(runs[0].iterdir())}
    second = {p.name: p.read_bytes() for p in sorted(runs[1].iterdir())}
    assert first == second
    markdown = first["exit-report.md"].decode()
    linked = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", markdown)
    assert sorted(linked) == sorted(name for name in first if name.endswith(".png"))
    assert all(first[name][:8] == b"\x89PNG\r\n\x1a\n" for name in linked)
    assert main(["report", "exit", "--at", "2026-12-07T11:00"]) == 0
    printed = capsys.readouterr()
    assert printed.out == markdown and "--out DIR" in printed.err
    early = tmp_path / "early"
    assert main(["report", "exit", "--out", str(early), "--at", "2026-11-10T09:00"]) == 1
    assert "hypercare starts on 2026-11-16" in capsys.readouterr().err
    assert not early.exists()
