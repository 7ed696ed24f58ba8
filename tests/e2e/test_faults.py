"""End to end under faults: the bot killed mid-path, its database gone or locked, Slack
throttling or failing, a metrics source flapping. Each test lets the bot recover, then checks
that nothing was lost (every report stored, receipted, ticketed and confirmed) and nothing was
doubled (one receipt, one ticket, one confirmation per report).

Where a test kills the bot, it kills it while an emulator holds the call of interest (Slack's
latency, Jira's held answer), so the point of death is the same on every run.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.api import RecordedCall
from storage.models import FeedbackRow
from tests.conftest import FEEDBACK_CHANNEL, SIGNING_SECRET
from tests.e2e.test_cli import free_port, serve_env, wait_healthy
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.e2e.test_jira_crash import polling_program_file, start_bot
from tests.support import database, wait_outbox_drained, wait_until

JIRA_EMAIL, JIRA_TOKEN = "bot@example.com", "faults-canary-token"


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    """A Jira Cloud emulator."""
    emulator = JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN)
    emulator.start()
    yield emulator
    emulator.stop()


# -- what the emulators saw ------------------------------------------------------------------------


def receipts(slack: SlackEmulator) -> list[RecordedCall]:
    """Receipts Slack accepted: top-level posts in the feedback channel."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == FEEDBACK_CHANNEL
        and not c.args.get("thread_ts")
        and c.response.get("ok")
    ]


def confirmations(slack: SlackEmulator, short_id: str) -> list[RecordedCall]:
    """Private "filed as HC-n" confirmations Slack accepted for one report."""
    filed = re.compile(rf"filed as \S*{short_id}\b")
    return [
        c
        for c in slack.calls_to("chat.postEphemeral")
        if c.response.get("ok") and filed.search(c.args.get("text", ""))
    ]


def ticket_notes(slack: SlackEmulator, key: str) -> list[RecordedCall]:
    """Thread notes Slack accepted that link a Jira key."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and c.response.get("ok") and key in c.args.get("text", "")
    ]


def issues_by_report(jira: JiraEmulator) -> dict[str, list[str]]:
    """Jira issue keys per report (HC-n), from the `[HC-n]` prefix of their summaries."""
    found: dict[str, list[str]] = {}
    for issue in jira.issues():
        report = issue["fields"]["summary"].split("]", 1)[0].lstrip("[")
        found.setdefault(report, []).append(issue["key"])
    return found


def stored(url: str) -> list[tuple[int, str | None, str | None]]:
    """(id, receipt ts, ticket key) of every stored report, oldest first."""
    with database(url) as engine, engine.connect() as conn:
        query = select(FeedbackRow.id, FeedbackRow.receipt_ts, FeedbackRow.ticket_key)
        return [(r[0], r[1], r[2]) for r in conn.execute(query.order_by(FeedbackRow.id))]


def assert_each_report_once(
    slack: SlackEmulator, jira: JiraEmulator, url: str, reports: int
) -> None:
    """Every report stored, with one receipt, one ticket (linked from its receipt) and one
    confirmation; nothing more."""
    rows = stored(url)
    assert [r[0] for r in rows] == list(range(1, reports + 1))
    assert len(receipts(slack)) == reports
    assert sorted(r.response["ts"] for r in receipts(slack)) == sorted(str(r[1]) for r in rows)
    by_report = issues_by_report(jira)
    assert {k: len(v) for k, v in by_report.items()} == {f"HC-{n}": 1 for n in rows_ids(rows)}
    for feedback_id, receipt_ts, key in rows:
        assert key == by_report[f"HC-{feedback_id}"][0]
        updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == receipt_ts]
        assert updates and key in json.dumps(updates[-1].args["blocks"])
        assert len(ticket_notes(slack, key)) == 1
        assert len(confirmations(slack, f"HC-{feedback_id}")) == 1


def rows_ids(rows: list[tuple[int, str | None, str | None]]) -> list[int]:
    """The ids of stored reports."""
    return [r[0] for r in rows]


# -- SIGKILL at each point of the report → ticket → Slack path -------------------------------------


def crash_env(
    slack: SlackEmulator, jira: JiraEmulator, url: str, port: int, folder: Path
) -> dict[str, str]:
    """`serve` against the emulators; a dead worker's rows come back after 3 s."""
    return serve_env(
        slack,
        url,
        port,
        polling_program_file(folder),
        JIRA_URL=jira.url,
        JIRA_EMAIL=JIRA_EMAIL,
        JIRA_API_TOKEN=JIRA_TOKEN,
        JIRA_READ_TIMEOUT="30",
        OUTBOX_LEASE_SECONDS="3",
    )


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the bot and reap it."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the bot as an orchestrator would (SIGTERM)."""
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


@pytest.mark.parametrize(
    "held",
    ["chat.postMessage", "chat.update"],
    ids=["receipt-post", "receipt-update-after-ticket"],
)
def test_sigkill_while_slack_holds_a_call_then_restart_loses_and_doubles_nothing(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, tmp_path: Path, held: str
) -> None:
    """Killed while Slack holds the receipt (or its update with the ticket), the restarted bot
    finishes the report with one receipt, one ticket, one note and a confirmation."""
    port = free_port()
    env = crash_env(slack, jira, database_url, port, tmp_path)
    slack.set_latency(held, 2.0)  # Slack acts on the call, but the bot dies before the answer
    first = start_bot(env, tmp_path)
    try:
        wait_healthy(port, first)
        user = SlackUserSimulator(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack)
        assert user.submit_view(open_modal(user, slack), good_values()).status_code == 200
        slack.wait_in_flight(held, timeout=20)
    finally:
        kill(first)
    slack.wait_for(held, timeout=10)  # the held call went through after the bot died
    slack.set_latency(held, 0)
    second = start_bot(env, tmp_path)
    try:
        wait_healthy(port, second)
        wait_until(lambda: all(r[2] for r in stored(database_url)), timeout=30)
        with database(database_url) as engine:
            wait_outbox_drained(engine, timeout=30)
        assert_each_report_once(slack, jira, database_url, reports=1)
    finally:
        stop(second)
