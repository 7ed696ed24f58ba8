"""Secrets and message text never reach the log: a whole flow run with canary values.

The bot runs with unique, real-looking canary secrets and logging set up as `serve` does at its
most verbose (LOG_LEVEL=DEBUG, every library's logger included). A representative flow files
feedback (by command, form and message shortcut) full of canary text, opens its Jira ticket,
fires a gateway alert, pages the on-call, takes a Jira webhook, meets Slack and Jira failures
and refuses a forged request. Then everything the log handler wrote is scanned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.app.build import Runtime, build_runtime
from bot.config import Program, Settings
from bot.logs import setup_logging
from bot.slack.ids import Callback
from sandbox.gateway.exposition import KongExposition
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage.db import make_sessions
from storage.models import Base
from tests.e2e.test_alert_flow import ALERTS, Clock, checkout_5xx, kong_source, step, with_metrics
from tests.e2e.test_escalation import PRIMARY, SECONDARY, escalating_program
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.support import outbox_pending, wait_until

# Shaped like the real thing, and found nowhere else.
BOT_TOKEN = "xoxb-7391028-canary-bot-token-Qm4f"
SIGNING_SECRET = "c4n4ry5161n65ecre7a9b8c7d6e5f4a3"
JIRA_EMAIL = "canary-bot@example.com"
JIRA_TOKEN = "ATATT3xFfGF0canaryJiraToken-8d2e"
WEBHOOK_SECRET = "canary-webhook-secret-61c0"
SECRETS = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "JIRA_API_TOKEN": JIRA_TOKEN,
    "JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "Jira basic credentials": base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode(),
}
# What people typed: each field its own marker, so a hit names the leak.
TEXT = {field: f"canarytext-{field}-x7q" for field in ("summary", "trying", "expected", "actual")}
TEXT["command"] = "canarytext-command-x7q"
TEXT["message"] = "canarytext-message-x7q"
TEXT["forged"] = "canarytext-forged-x7q"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Logging as `hypercare-bot serve` sets it up with LOG_LEVEL=DEBUG, written to a buffer;
    the previous logging state comes back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    setup_logging("DEBUG")
    buffer = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in named.items():
        logging.getLogger(name).setLevel(level)


def canary_program(gateway: KongExposition) -> Program:
    """One-person rotas with a fast sev1 policy, a gateway rule, and Jira."""
    metrics = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [kong_source(gateway)],
        "rules": [checkout_5xx()],
    }
    program = with_metrics(escalating_program(), metrics)
    return program.model_copy(
        update={"jira": program.jira.model_copy(update={"max_requests_per_second": 50})}  # type: ignore[union-attr]
    )


def test_a_whole_flow_logs_no_secret_and_no_message_text(log_output: io.StringIO) -> None:
    """Feedback, a ticket, an alert, a page, a webhook, failures and a forged request log ids
    and outcomes only: no token, secret or credential, and nothing anyone typed."""
    slack = SlackEmulator(token=BOT_TOKEN).start()
    for channel, name in (("C0FEEDBACK", "hypercare-feedback"), ("C0GENERAL", "general")):
        slack.add_channel(channel, name)
    slack.add_channel(ALERTS, "alerts")
    for person in ("U0ALICE", "U0BOB", "U0LEAD1", "U0ADMIN1", PRIMARY, SECONDARY):
        slack.add_user(person, person.lower(), email=f"{person.lower()}@example.com")
    jira = JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN, webhook_secret=WEBHOOK_SECRET)
    jira.start()
    gateway = KongExposition()
    workdir = Path(tempfile.mkdtemp(prefix="hypercare-canary-"))
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.base_url,
        database_url=f"sqlite:///{workdir / 'hypercare.db'}",
        host="127.0.0.1",
        port=0,
        log_level="DEBUG",
        jira_url=jira.url,
        jira_email=JIRA_EMAIL,
        jira_api_token=SecretStr(JIRA_TOKEN),
        jira_webhook_secret=SecretStr(WEBHOOK_SECRET),
        jira_read_timeout=2.0,
        escalation_tick_seconds=60,
        _env_file=None,
    )
    clock = Clock()
    bot = build_runtime(settings, canary_program(gateway), clock=clock).start()
    url = f"http://127.0.0.1:{bot.port}"
    user = SlackUserSimulator(f"{url}/slack/events", SIGNING_SECRET, slack)
    try:
        # Feedback by command and form, with Slack and Jira failing once each on the way (the
        # test's clock moves on while it waits, so retries come due).
        slack.fail_next("chat.postMessage", status=503)
        jira.fail_next("POST", "/rest/api/2/issue", status=503)
        view = open_modal(user, slack, TEXT["command"])
        typed = {f: TEXT[f] for f in ("summary", "trying", "expected", "actual")}
        assert user.submit_view(view, good_values(severity="sev1", **typed)).status_code == 200
        key = wait_until(lambda: moved(clock) and ticket_key(bot), timeout=30)
        # A message reported by shortcut.
        assert (
            user.message_shortcut(
                callback_id=Callback.REPORT_MESSAGE,
                message_text=TEXT["message"],
                message_ts="1700000000.000300",
                channel_id="C0GENERAL",
            ).status_code
            == 200
        )
        # A gateway alert that fires and pages.
        for errors in (0, 0, 40):
            step(bot, clock, gateway, ok=100, errors=errors)
        wait_until(lambda: slack.messages(ALERTS))
        # Jira says the ticket moved (signed with the canary secret).
        # (A workflow status name is the Jira admin's vocabulary, logged like an id.)
        jira.add_status("In Review", "9001", "indeterminate")
        event = jira_event(str(key), "In Review")
        raw = json.dumps(event).encode()
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        hook = httpx.post(
            f"{url}/jira/webhook", content=raw, headers={"X-Hub-Signature": signature}
        )
        assert hook.status_code == 200
        # A forged request carrying text.
        assert user.send_raw(f"text={TEXT['forged']}", sign=False).status_code == 401
        wait_until(lambda: moved(clock) and outbox_pending(bot.engine) == 0, timeout=30)
        stored = database_text(bot)
    finally:
        user.close()
        bot.stop()
        gateway.stop()
        jira.stop()
        slack.stop()
    logged = log_output.getvalue()
    assert "feedback HC-1 stored" in logged and "alert checkout-5xx fired" in logged
    assert "deferred" in logged  # the failures were logged (and are scanned too)
    leaks = [name for name, secret in SECRETS.items() if secret in logged]
    leaks += [f"text: {field}" for field, text in TEXT.items() if text in logged]
    assert leaks == []
    assert [name for name, secret in SECRETS.items() if secret in stored] == []


def moved(clock: Clock) -> bool:
    """Let a second pass on the test's clock (so retries come due); always true."""
    clock.tick(1)
    return True


def ticket_key(bot: Runtime) -> str | None:
    """The first report's Jira key, once it has one."""
    feedback = bot.services.feedback.get(1)
    return feedback.ticket_key if feedback else None


def jira_event(key: str, status: str) -> dict[str, object]:
    """Jira's issue-updated event for a status change."""
    return {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1_795_424_400_000,
        "user": {"displayName": "Jira User"},
        "issue": {"key": key, "fields": {"status": {"name": status}}},
        "changelog": {"items": [{"field": "status", "toString": status}]},
    }


def database_text(bot: Runtime) -> str:
    """Every row of every table, as text (secrets belong in the environment only)."""
    with make_sessions(bot.engine)() as session:
        rows = [
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        ]
    return "\n".join(rows)
