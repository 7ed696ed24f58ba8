"""End to end: a bot killed after Jira opened the issue, but before it noted that, adopts it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET
from tests.e2e.test_cli import free_port, serve_env, wait_healthy
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.support import database, wait_outbox_drained, wait_until


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    """A Jira Cloud emulator."""
    emulator = JiraEmulator(email="bot@example.com", api_token="crash-test-token")
    emulator.start()
    yield emulator
    emulator.stop()


def start_bot(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start `hypercare-bot serve` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigkill_between_jira_answer_and_database_update_adopts_the_ticket(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, tmp_path: Path
) -> None:
    """Killed with the issue created but unrecorded, the restarted bot adopts it: one ticket."""
    port = free_port()
    env = serve_env(
        slack,
        database_url,
        port,
        JIRA_URL=jira.url,
        JIRA_EMAIL="bot@example.com",
        JIRA_API_TOKEN="crash-test-token",
        JIRA_READ_TIMEOUT="30",
        OUTBOX_LEASE_SECONDS="3",
    )
    jira.hold_after_create(20)  # Jira acts at once but answers late: the bot dies meanwhile
    first = start_bot(env, tmp_path)
    try:
        wait_healthy(port, first)
        user = SlackUserSimulator(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack)
        assert user.submit_view(open_modal(user, slack), good_values()).status_code == 200
        wait_until(lambda: jira.issues(), timeout=20)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    second = start_bot(env, tmp_path)
    try:
        wait_healthy(port, second)
        update = slack.wait_for("chat.update", timeout=30)[-1]
        [issue] = jira.issues()
        assert issue["key"] in str(update.args["blocks"])
        searches = jira.calls_to("GET", "/rest/api/2/search/jql") + jira.calls_to(
            "POST", "/rest/api/2/search/jql"
        )
        assert searches, "the restarted bot searched for the label before creating"
        # Once every queued effect ran (the adopted create among them), no other create follows.
        with database(database_url) as engine:
            wait_outbox_drained(engine, timeout=30)
        assert len(jira.issues()) == 1
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=30)[0]
    assert "adopting" in output
