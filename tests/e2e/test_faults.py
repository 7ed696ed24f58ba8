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
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import select

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.slack.notifier import RECEIPT_EVENT
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.api import RecordedCall
from storage.models import FeedbackRow
from tests.conftest import (
    FEEDBACK_CHANNEL,
    SIGNING_SECRET,
    TEST_DATABASE,
    bot_settings,
    throwaway_postgres,
)
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
    """Receipts Slack accepted: top-level posts in the feedback channel that name a report in
    their metadata (an on-call hand-over falling due during the test is posted there too)."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == FEEDBACK_CHANNEL
        and not c.args.get("thread_ts")
        and (c.args.get("metadata") or {}).get("event_type") == RECEIPT_EVENT
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


# -- an in-process bot with Jira -------------------------------------------------------------------


@pytest.fixture
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, program: Program
) -> Iterator[Runtime]:
    """The bot in HTTP mode with Jira connected (short timeouts, fast pacing)."""
    yield from running_bot(slack, jira, database_url, program)


def running_bot(
    slack: SlackEmulator, jira: JiraEmulator, url: str, program: Program
) -> Iterator[Runtime]:
    """Run the bot on `url` until the caller is done with it."""
    settings = bot_settings(slack, url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_TOKEN),
            "jira_read_timeout": 1.0,
            # Rows a pass claimed but could not record (the database went away) come back then.
            "outbox_lease_seconds": 3.0,
        }
    )
    assert program.jira is not None
    fast = program.model_copy(
        update={"jira": program.jira.model_copy(update={"max_requests_per_second": 50})}
    )
    runtime = build_runtime(settings, fast).start()
    try:
        yield runtime
    finally:
        runtime.stop()


def user_of(runtime: Runtime, slack: SlackEmulator) -> SlackUserSimulator:
    """A Slack user whose actions reach `runtime` as signed requests."""
    return SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, emulator=slack
    )


def settle(runtime: Runtime, url: str, reports: int) -> None:
    """Wait until `reports` reports have tickets and every queued effect was carried out."""
    wait_until(lambda: len(stored(url)) == reports and all(r[2] for r in stored(url)), 45)
    wait_outbox_drained(runtime.engine, timeout=45)


def test_slack_throttling_and_failing_for_a_stretch_delays_but_never_drops_or_doubles(
    bot: Runtime, slack: SlackEmulator, jira: JiraEmulator, database_url: str
) -> None:
    """With Slack answering 429 (Retry-After) and 5xx on every kind of post for a while, each
    report still gets one receipt, one ticket, one note and one confirmation."""
    user = user_of(bot, slack)
    views = [open_modal(user, slack) for _ in range(3)]
    slack.fail_next("chat.postMessage", status=503, times=3)
    slack.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    slack.fail_next("chat.update", status=429, retry_after=1, times=2)
    slack.fail_next("chat.update", status=502, times=2)
    slack.fail_next("chat.postEphemeral", status=500, times=2)
    slack.fail_next("chat.postEphemeral", status=429, retry_after=1, times=1)
    for n, view in enumerate(views):
        assert user.submit_view(view, good_values(summary=f"Stretch {n}")).status_code == 200
    settle(bot, database_url, 3)
    statuses = {c.status for c in slack.calls if c.method.startswith("chat.")}
    assert {429, 500, 502, 503} <= statuses  # every injected failure was met
    assert_each_report_once(slack, jira, database_url, reports=3)


# -- SQLite locked by another writer -------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'hypercare.db'}"


@pytest.fixture
def sqlite_bot(
    slack: SlackEmulator, jira: JiraEmulator, sqlite_url: str, program: Program
) -> Iterator[Runtime]:
    """The bot with Jira on an SQLite file."""
    yield from running_bot(slack, jira, sqlite_url, program)


def lock_for(url: str, seconds: float) -> threading.Thread:
    """Another writer: hold SQLite's write lock on the bot's file for `seconds`, then let go."""
    path = url.removeprefix("sqlite:///")
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS other_writer (x INTEGER)")
            locked.set()
            threading.Event().wait(seconds)  # the fault: a writer that keeps the lock this long
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    holder = threading.Thread(target=hold, name="other-writer", daemon=True)
    holder.start()
    assert locked.wait(10), "the other writer could not take the lock"
    return holder


@pytest.mark.parametrize(
    "held",
    [1.5, 6.0],
    ids=["shorter-than-slack-waits", "longer-than-slack-waits"],
)
def test_a_submission_while_another_writer_locks_sqlite_is_answered_in_time_and_kept(
    sqlite_bot: Runtime, slack: SlackEmulator, jira: JiraEmulator, sqlite_url: str, held: float
) -> None:
    """While another process holds SQLite's write lock, a submission is answered within Slack's
    3 s (stored, or kept open with a clear error); after release the report lands once."""
    user = user_of(sqlite_bot, slack)
    view = open_modal(user, slack)
    holder = lock_for(sqlite_url, held)
    started = time.monotonic()
    answer = user.submit_view(view, good_values())
    took = time.monotonic() - started
    assert answer.status_code == 200 and took < 3.0, f"answered after {took:.1f} s"
    body = answer.json() if answer.text.strip() else {}
    if body.get("response_action") == "errors":
        assert "could not save this just now" in body["errors"]["summary"]
        holder.join(timeout=held + 5)
        assert user.submit_view(view, good_values()).status_code == 200  # Submit again
    holder.join(timeout=held + 5)
    settle(sqlite_bot, sqlite_url, 1)
    assert_each_report_once(slack, jira, sqlite_url, reports=1)


# -- PostgreSQL restarted mid-run ------------------------------------------------------------------


@pytest.fixture
def restartable_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL server of this test's own (others keep theirs), and its database's URL."""
    with (
        throwaway_postgres(tmp_path_factory) as server,
        DatabaseJanitor(
            user=server.user,
            host=server.host,
            port=server.port,
            dbname=TEST_DATABASE,
            password=server.password,
        ),
    ):
        yield (
            server,
            f"postgresql+psycopg://{server.user}@127.0.0.1:{server.port}/{TEST_DATABASE}",
        )


def submit_timed(user: SlackUserSimulator, view: dict[str, Any], summary: str) -> dict[str, Any]:
    """Submit a form; return the answer's body, after checking Slack would have had it in time."""
    started = time.monotonic()
    answer = user.submit_view(view, good_values(summary=summary))
    took = time.monotonic() - started
    assert answer.status_code == 200 and took < 3.0, f"answered {answer.status_code} in {took} s"
    return answer.json() if answer.text.strip() else {}


@pytest.mark.postgres
def test_a_postgresql_restart_mid_run_answers_clearly_meanwhile_and_loses_nothing(
    restartable_postgres: tuple[Any, str],
    slack: SlackEmulator,
    jira: JiraEmulator,
    program: Program,
) -> None:
    """While PostgreSQL is down each submission is told to try again (never dropped silently);
    once it is back, without restarting the bot, every report lands once."""
    server, url = restartable_postgres
    with contextmanager(running_bot)(slack, jira, url, program) as runtime:
        user = user_of(runtime, slack)
        views = [open_modal(user, slack) for _ in range(4)]
        for n in range(2):
            assert "errors" not in submit_timed(user, views[n], f"Before {n}")
        server.stop()
        refused = [submit_timed(user, views[n], f"During {n}") for n in (2, 3)]
        for body in refused:
            assert body["response_action"] == "errors"
            assert "could not save this just now" in body["errors"]["summary"]
        server.start()
        for n in (2, 3):  # the users press Submit again
            assert "errors" not in submit_timed(user, views[n], f"During {n}")
        later = open_modal(user, slack)
        assert "errors" not in submit_timed(user, later, "After")
        settle(runtime, url, 5)
        assert_each_report_once(slack, jira, url, reports=5)
