"""End to end: a bot killed while Jira works on a create ends with one open ticket: it adopts
an issue Jira opened before the bot could note it, and heals one Jira committed too late."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import ROOT, SIGNING_SECRET
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


def polling_program_file(folder: Path) -> Path:
    """The example program polling Jira as often as allowed (10 s), without its digest."""
    raw = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text(encoding="utf-8"))
    raw["channels"].pop("digest", None)  # a bot started after the digest's slot posts it late
    raw["jira"]["poll_interval"] = 10
    path = folder / "hypercare.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_a_create_jira_commits_after_the_bot_died_is_closed_as_a_duplicate(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, tmp_path: Path
) -> None:
    """Killed while Jira holds a create it commits later, the bot heals to one open ticket."""
    port = free_port()
    env = serve_env(
        slack,
        database_url,
        port,
        polling_program_file(tmp_path),
        JIRA_URL=jira.url,
        JIRA_EMAIL="bot@example.com",
        JIRA_API_TOKEN="crash-test-token",
        JIRA_READ_TIMEOUT="60",
        OUTBOX_LEASE_SECONDS="3",
    )
    # Jira runs the first create but holds its transaction open; it commits only after the
    # bot is gone and a second create has overtaken it.
    jira.commit_late(120)
    first = start_bot(env, tmp_path)
    try:
        wait_healthy(port, first)
        user = SlackUserSimulator(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack)
        assert user.submit_view(open_modal(user, slack), good_values()).status_code == 200
        [late] = wait_until(jira.held_creates, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    second = start_bot(env, tmp_path)
    try:
        wait_healthy(port, second)
        # The restarted bot's search finds nothing yet, so it opens a second issue.
        [overtaking] = wait_until(lambda: [i["key"] for i in jira.issues()], timeout=30)
        wait_until(lambda: thread_notes(slack, f"|{overtaking}> is open"), timeout=30)
        jira.commit_held()  # now the first create commits: two issues for one report
        [note] = wait_until(lambda: thread_notes(slack, "as a duplicate"), timeout=60)
        with database(database_url) as engine:
            wait_outbox_drained(engine, timeout=30)
        open_issues = [
            i["key"]
            for i in jira.issues()
            if i["fields"]["status"]["statusCategory"]["key"] != "done"
        ]
        # The late issue was created first (Jira stamps it when the create runs): it stays.
        assert open_issues == [late]
        assert jira.links(overtaking) == [("duplicates", late)]
        [comment] = jira.comments(overtaking)
        assert f"duplicates {late}" in comment["body"]
        assert jira.issue(overtaking)["fields"]["status"]["name"] == "Done"
        assert note.startswith(f":link: Jira had opened {overtaking} as well as {late} for HC-1")
        assert len(thread_notes(slack, "as a duplicate")) == 1
        assert late in str(slack.calls_to("chat.update")[-1].args["blocks"])
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)


def thread_notes(slack: SlackEmulator, text: str) -> list[str]:
    """The texts of the thread replies that contain `text`."""
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and text in c.args.get("text", "")
    ]
