"""Two bot processes on one PostgreSQL: every page goes out once, even when the leader is killed.

Both replicas run the outbox; only the one holding the advisory lock ticks the scheduler. The
test kills that leader with SIGKILL mid-climb; the other takes the lead and finishes every
climb. Each (person, item, round) must be paged exactly once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET
from tests.e2e.test_cli import free_port, serve_env, wait_healthy
from tests.e2e.test_escalation import LEAD, PRIMARY, SECONDARY, escalating_file
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.e2e.test_jira_crash import start_bot
from tests.support import claims, database, wait_outbox_drained, wait_until

ITEMS = 4
ROUNDS = 3
_LEADER_LOCK_ID = 0x48435F4C  # storage/leader.py
_PAGE = re.compile(r"(HC-\d+) · .*?Round (\d) of 3")


def page_keys(slack: SlackEmulator) -> list[tuple[str, str, str]]:
    """(person, item, round) of every page DM the emulator accepted."""
    keys = []
    for call in slack.calls_to("chat.postMessage"):
        if call.status != 200 or not call.response.get("ok"):
            continue
        blocks = json.dumps(call.args.get("blocks"), ensure_ascii=False)
        if "You are paged" in blocks and (match := _PAGE.search(blocks)):
            keys.append((str(call.args["channel"]), match.group(1), match.group(2)))
    return keys


def leader(database_url: str) -> str | None:
    """The application_name of the connection holding the scheduler lock."""
    with database(database_url) as engine, engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :id AND l.granted"
            ),
            {"id": _LEADER_LOCK_ID},
        ).scalar()


def test_two_replicas_page_every_step_once_across_a_leader_kill(
    slack: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    """Four sev1s climb three rounds of three tiers; the leader dies after the first round.

    The DMs the leader had posted but not yet recorded when it died are found in Slack by the
    survivor (their metadata names their group) and adopted, not sent again; nothing is lost.
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("several replicas need PostgreSQL; SQLite means one replica")
    raw = escalating_file()
    raw.pop("jira")  # no Jira here: serve would want its credentials
    for severity in raw["severities"]:
        severity.pop("auto_ticket", None)
    # Every page a DM of its own (each still through a one-page group): each (person, item,
    # round) is one message to count.
    raw["escalation"]["group_pages_within"] = 0
    policy = raw["escalation"]["policies"][0]
    policy["steps"] = [
        "notify_primary",
        {"wait": "1s"},
        "notify_secondary",
        {"wait": "1s"},
        "notify_leads",
        {"wait": "1s"},
        {"repeat": ROUNDS - 1},
    ]
    program = tmp_path / "hypercare.yaml"
    program.write_text(yaml.safe_dump(raw))
    processes: dict[str, subprocess.Popen[str]] = {}
    ports: dict[str, int] = {}
    for name in ("replica-a", "replica-b"):
        ports[name] = free_port()
        env = serve_env(
            slack,
            f"{database_url}?application_name={name}",
            ports[name],
            HYPERCARE_CONFIG=str(program),
            ESCALATION_TICK_SECONDS="0.2",
            OUTBOX_LEASE_SECONDS="2",
        )
        processes[name] = start_bot(env, tmp_path)
    try:
        for name, proc in processes.items():
            wait_healthy(ports[name], proc)
        lead_name = wait_until(lambda: leader(database_url))
        other = next(name for name in processes if name != lead_name)
        user = SlackUserSimulator(
            f"http://127.0.0.1:{ports[other]}/slack/events", SIGNING_SECRET, slack
        )
        for index in range(ITEMS):
            view = open_modal(user, slack)
            values = good_values(summary=f"Outage {index}")
            assert user.submit_view(view, values).status_code == 200
        wait_until(lambda: len(page_keys(slack)) >= ITEMS * 2, timeout=20)
        processes[lead_name].send_signal(signal.SIGKILL)
        processes[lead_name].communicate(timeout=10)
        wait_until(lambda: leader(database_url) == other, timeout=20)
        expected = ITEMS * 3 * ROUNDS
        wait_until(lambda: len(page_keys(slack)) >= expected, timeout=60)
        with database(database_url) as engine:
            # Every step of every climb claimed, then the outbox drained (the killed leader's
            # leased rows, once their lease ran out, included): every page has gone out.
            wait_until(lambda: len(claims(engine, "escalation:")) == expected, timeout=30)
            wait_outbox_drained(engine, timeout=30)
        keys = page_keys(slack)
        doubled = {key: n for key, n in Counter(keys).items() if n > 1}
        # DMs the killed leader posted unrecorded are adopted; one may still go out twice when
        # a delivery outlives the test's 2 s lease on a starved machine (README, Known limits).
        assert len(doubled) <= 1 and set(doubled.values()) <= {2}, doubled
        assert len(set(keys)) == expected
        assert {person for person, _, _ in keys} == {PRIMARY, SECONDARY, LEAD}
        user.close()
    finally:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
