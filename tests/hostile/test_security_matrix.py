"""The security matrix: forged, stale, oversized or malformed requests, members pressing
lead-only buttons and typing lead-only commands, and forged Jira webhooks.

Each row is one case: the answer (status code or private refusal), nothing stored or queued,
and the body of a refused request nowhere in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select

from bot.app.build import Runtime, build_runtime
from bot.app.http import MAX_BODY, SlackRequestGuard
from bot.config import Program
from sandbox.gateway.exposition import KongExposition
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.user import build_state_values
from storage.db import make_sessions
from storage.models import Base
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, bot_settings
from tests.e2e.test_alert_flow import ALERTS, Clock, checkout_5xx, kong_source, step
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.hostile.conftest import Recorded
from tests.support import wait_outbox_drained, wait_until

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-rejected-body-text-5e1d"
MEMBER, LEAD = "U0BOB", "U0LEAD1"
HOOK_SECRET = "matrix-hook-secret"
# Tables a refused action must leave as they were (job runs and inbound dedup keys aside).
WATCHED = (
    "feedback",
    "feedback_reporter",
    "audit",
    "alert",
    "watch_state",
    "outbox",
    "escalation",
    "oncall_override",
    "page_group",
    "pulse",
    "pulse_answer",
)


def snapshot(bot: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the watched tables, once the outbox has nothing left to do."""
    wait_outbox_drained(bot.engine)
    with make_sessions(bot.engine)() as session:
        return {
            name: sorted(map(tuple, session.execute(select(Base.metadata.tables[name]))), key=str)
            for name in WATCHED
        }


def messages(records: list[logging.LogRecord]) -> str:
    """Everything logged, message and traceback, as one text."""
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


# -- requests that are not genuine, fresh, small and well-formed -------------------------------


def command() -> str:
    """A slash-command body carrying text that must never be logged."""
    fields = {
        "command": "/hypercare",
        "text": CANARY,
        "user_id": "U0ALICE",
        "channel_id": "C0FEEDBACK",
        "trigger_id": "1.2.abc",
        "team_id": "T0HYPER",
    }
    return urlencode(fields)


def sign(body: bytes, timestamp: str) -> str:
    """Slack's v0 signature of a body at a timestamp."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Forged:
    """A request as sent: body and headers from the current time."""

    body: bytes
    headers: dict[str, str | bytes]


def forge(
    body: str | bytes = "",
    *,
    skew: int = 0,
    timestamp: str | None = None,
    signature: Callable[[bytes, str], str | None] = sign,
    content_type: str = "application/x-www-form-urlencoded",
) -> Callable[[], Forged]:
    """A request built at send time: signed (or not) over its body at now + skew."""

    def build() -> Forged:
        raw = body if isinstance(body, bytes) else body.encode()
        stamp = timestamp if timestamp is not None else str(int(time.time()) + skew)
        headers: dict[str, str | bytes] = {"Content-Type": content_type}
        if stamp != "-":  # a header byte beyond ASCII reaches the bot as a Latin-1 character
            headers["X-Slack-Request-Timestamp"] = stamp.encode("latin-1")
        if (sig := signature(raw, stamp)) is not None:
            headers["X-Slack-Signature"] = sig
        return Forged(raw, headers)

    return build


def flip_last(raw: bytes, stamp: str) -> str:
    """A valid signature over the body with one byte changed."""
    return sign(raw[:-1] + bytes([raw[-1] ^ 1]), stamp)


GUARD_ROWS: dict[str, tuple[Callable[[], Forged], int]] = {
    "bad signature": (forge(command(), signature=lambda r, s: "v0=" + "0" * 64), 401),
    "body altered after signing": (forge(command(), signature=flip_last), 401),
    "v1= signature": (forge(command(), signature=lambda r, s: "v1" + sign(r, s)[2:]), 401),
    "upper-case hex": (
        forge(command(), signature=lambda r, s: "v0=" + sign(r, s)[3:].upper()),
        401,
    ),
    "truncated signature": (forge(command(), signature=lambda r, s: sign(r, s)[:40]), 401),
    "missing signature": (forge(command(), signature=lambda r, s: None), 401),
    "missing timestamp": (forge(command(), timestamp="-"), 401),
    "empty timestamp": (forge(command(), timestamp=""), 401),
    "non-numeric timestamp": (forge(command(), timestamp="yesterday"), 401),
    "float timestamp": (forge(command(), timestamp=f"{time.time():.3f}"), 401),
    "negative timestamp": (forge(command(), timestamp="-1"), 401),
    "superscript-digit timestamp": (forge(command(), timestamp="\u00b2"), 401),
    "enormous timestamp": (forge(command(), timestamp="9" * 40), 401),
    # Ten seconds past the five-minute window: the stamp is whole seconds taken at build time,
    # so a row one second past it was accepted whenever the request arrived a second later.
    "replay 310 s old": (forge(command(), skew=-310), 401),
    "timestamp 310 s ahead": (forge(command(), skew=310), 401),
    "replay an hour old": (forge(command(), skew=-3600), 401),
    "unsigned ssl_check": (forge("ssl_check=1&token=x", signature=lambda r, s: None), 401),
    "oversized body": (forge("text=" + CANARY + "x" * MAX_BODY), 413),
    "signed binary garbage": (forge(b"\xff\xfe\x00" + CANARY.encode()), 401),
    "signed NUL bytes": (forge("\x00\x01" + CANARY), 400),
    "signed payload not JSON": (forge("payload=%7Bnot-json" + CANARY), 400),
    "signed payload a JSON list": (forge("payload=" + quote(json.dumps([CANARY]))), 400),
    "signed JSON list body": (
        forge(json.dumps([CANARY]), content_type="application/json"),
        400,
    ),
    "signed form without a command": (forge(urlencode({"text": CANARY})), 400),
    "signed payload without a type": (forge("payload=" + quote(json.dumps({"x": CANARY}))), 400),
    "signed view_submission without a view": (
        forge("payload=" + quote(json.dumps({"type": "view_submission", "user": {"id": "U"}}))),
        400,
    ),
    "signed block_actions without actions": (
        forge("payload=" + quote(json.dumps({"type": "block_actions", "user": {"id": CANARY}}))),
        400,
    ),
}


@pytest.mark.parametrize("row", list(GUARD_ROWS), ids=list(GUARD_ROWS))
def test_request_guard_refuses_with_the_right_status_and_logs_no_body(
    bot: Runtime, slack: SlackEmulator, row: str
) -> None:
    """Each forged, stale, oversized or malformed request gets its 4xx (never a 5xx), reaches
    no listener, stores nothing, and leaves no trace of its body in any log line."""
    build, status = GUARD_ROWS[row]
    forged = build()
    before = snapshot(bot)
    with Recorded("", logging.DEBUG) as records:
        response = httpx.post(
            f"http://127.0.0.1:{bot.port}/slack/events",
            content=forged.body,
            headers={
                k.encode(): v if isinstance(v, bytes) else v.encode()
                for k, v in forged.headers.items()
            },
        )
    assert response.status_code == status
    assert snapshot(bot) == before
    assert slack.calls_to("views.open") == [] and slack.calls_to("chat.postEphemeral") == []
    text = messages(records)
    assert "refused" in text  # the refusal is logged...
    assert CANARY not in text and SIGNING_SECRET not in text  # ...without the body or secret
    assert str(forged.headers.get("X-Slack-Signature", "\0")) not in text


@pytest.mark.parametrize(("skew", "status"), [(-300, 200), (300, 200), (-301, 401), (301, 401)])
def test_the_replay_window_is_five_minutes_either_way(skew: int, status: int) -> None:
    """With the clock held still, a stamp 300 s off passes the guard and 301 s off is refused,
    behind or ahead (the matrix above sends from the real clock, so it stays clear of the edge)."""
    now = 1_800_000_000
    reached: list[bytes] = []

    def inner(environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        reached.append(environ["wsgi.input"].read())
        start("200 OK", [])
        return [b""]

    guard = SlackRequestGuard(inner, SIGNING_SECRET, clock=lambda: float(now))
    body = command().encode()
    stamp = str(now + skew)
    environ = {
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": BytesIO(body),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp,
        "HTTP_X_SLACK_SIGNATURE": sign(body, stamp),
    }
    answered: list[str] = []
    guard(environ, lambda line, headers: answered.append(line))
    assert int(answered[0].split()[0]) == status
    assert reached == ([body] if status == 200 else [])


def test_a_signed_replay_inside_the_window_stores_nothing_twice(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A genuine form submission replayed byte for byte within the 5 minutes stores one report."""
    view = open_modal(user, slack)
    submitted = {**view, "state": {"values": build_state_values(view, good_values())}}
    payload = {"type": "view_submission", "user": {"id": "U0ALICE"}, "view": submitted}
    body = urlencode({"payload": json.dumps(payload)})
    assert user.send_raw(body).status_code == 200
    assert user.send_raw(body).status_code == 200  # the same bytes, re-signed at a new time
    assert user.send_raw(body, timestamp=str(int(time.time()) - 200)).status_code == 200
    assert len(snapshot(bot)["feedback"]) == 1


# -- members doing what only leads (or admins) may ------------------------------------------------


@dataclass
class Secured:
    """A bot with every lead-only thing in place: two reports, a firing sev1 alert that paged."""

    bot: Runtime
    user: SlackUserSimulator
    slack: SlackEmulator
    alert_ts: str
    receipt_ts: str
    group_id: int


def secured_program(gateway: KongExposition) -> Program:
    """The example program with its rotas and escalation, a gateway rule, and no digests."""
    raw = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())
    raw["channels"] = {"feedback": "C0FEEDBACK", "alerts": ALERTS}
    raw["metrics"] = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [kong_source(gateway)],
        "rules": [checkout_5xx()],
    }
    return Program.model_validate(raw)


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    """One bot for every authorisation row: refused actions change nothing, so they share it."""
    slack = SlackEmulator(token=BOT_TOKEN).start()
    for channel, name in (("C0FEEDBACK", "hypercare-feedback"), (ALERTS, "alerts")):
        slack.add_channel(channel, name)
    for person in ("U0ALICE", MEMBER, LEAD, "U0ADMIN1"):
        slack.add_user(person, person.lower(), email=f"{person.lower()}@example.com")
    slack.add_user("U0OPS", "ops", email="ops-lead@example.com")
    jira = JiraEmulator(email="bot@example.com", api_token="t", webhook_secret=HOOK_SECRET).start()
    gateway = KongExposition()
    workdir = Path(tempfile.mkdtemp(prefix="hypercare-matrix-"))
    settings = bot_settings(slack, f"sqlite:///{workdir / 'hypercare.db'}").model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": "bot@example.com",
            "jira_api_token": SecretStr("t"),
            "jira_webhook_secret": SecretStr(HOOK_SECRET),
            "escalation_tick_seconds": 3600,  # the clock stands still: nothing climbs by itself
        }
    )
    clock = Clock()
    bot = build_runtime(settings, secured_program(gateway), clock=clock).start()
    user = SlackUserSimulator(f"http://127.0.0.1:{bot.port}/slack/events", SIGNING_SECRET, slack)
    try:
        for summary in ("Checkout slow", "Refund missing"):
            view = open_modal(user, slack)
            values = good_values(severity="sev3", summary=summary)
            assert user.submit_view(view, values).status_code == 200
        for errors in (0, 0, 40):
            step(bot, clock, gateway, ok=100, errors=errors)
        receipt = wait_until(lambda: slack.messages("C0FEEDBACK"))[0]
        alert = wait_until(lambda: slack.messages(ALERTS))[0]
        group = wait_until(lambda: snapshot(bot)["page_group"])[0]
        yield Secured(bot, user, slack, str(alert["ts"]), str(receipt["ts"]), int(group[0]))
    finally:
        user.close()
        bot.stop()
        gateway.stop()
        jira.stop()
        slack.stop()


BUTTON_ROWS = {
    # action id: (value, where, refusal)
    "create-ticket": ("1", "receipt", "Only hypercare leads can open Jira tickets"),
    "alert-ticket": ("1", "alert", "Only hypercare leads can open Jira tickets"),
    "silence-alert": ("1", "alert", "Only hypercare leads can do that"),
    "end-silence": ("checkout-5xx", "alert", "Only hypercare leads can do that"),
    "mark-known": ("1", "receipt", "Only hypercare leads can mark or retire known issues"),
    "merge-into": ("1", "receipt", "Only hypercare leads can mark or retire known issues"),
    "ack-alert": ("1", "alert", "Only the people paged for this"),
    "ack-item": ("alert:1", "alert", "Only the people paged for this"),
    "ack-group": ("GROUP", "alert", "Only the people paged for this"),
    "resolve-item": ("1", "receipt", "Only hypercare leads can do that"),
}


@pytest.mark.parametrize("action", list(BUTTON_ROWS))
def test_a_member_pressing_a_lead_only_button_is_refused_privately(
    secured: Secured, action: str
) -> None:
    """A member's press of each privileged button is answered with a private refusal and
    opens, queues or changes nothing."""
    value, where, refusal = BUTTON_ROWS[action]
    value = str(secured.group_id) if value == "GROUP" else value
    channel, ts = (
        (ALERTS, secured.alert_ts) if where == "alert" else ("C0FEEDBACK", secured.receipt_ts)
    )
    before = snapshot(secured.bot)
    told = len(secured.slack.ephemerals(user=MEMBER))
    opened = len(secured.slack.calls_to("views.open"))
    response = secured.user.click_button(
        action_id=action, value=value, message_ts=ts, channel_id=channel, user_id=MEMBER
    )
    assert response.status_code == 200
    answer = wait_until(lambda: secured.slack.ephemerals(user=MEMBER)[told:])
    assert refusal in answer[0]["text"]
    assert snapshot(secured.bot) == before
    assert len(secured.slack.calls_to("views.open")) == opened


COMMAND_ROWS = {
    "known HC-1 restart the pod": "Only hypercare leads can mark or retire known issues",
    "known done HC-1": "Only hypercare leads can mark or retire known issues",
    "merge HC-2 into HC-1": "Only hypercare leads can merge items",
    "escalate HC-1": "Only hypercare leads can re-escalate",
    "exit-report": "Only hypercare leads can post the hand-over report",
    f"override <@{MEMBER}> until 18:00": "Only hypercare admins can add on-call overrides",
    f"assign HC-1 <@{MEMBER}>": "Only hypercare leads can do that",
    "pulse": "Only hypercare leads can send the pulse",
    "pulse comments": "Only hypercare leads can read pulse comments",
}


@pytest.mark.parametrize("text", list(COMMAND_ROWS))
def test_a_member_typing_a_lead_only_command_is_refused_privately(
    secured: Secured, text: str
) -> None:
    """A member's `/hypercare known|merge|escalate|override|assign|pulse …` is refused in a
    private answer and changes nothing."""
    before = snapshot(secured.bot)
    response = secured.user.slash_command(text, user_id=MEMBER)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral" and COMMAND_ROWS[text] in answer["text"]
    assert snapshot(secured.bot) == before


MODAL_ROWS = {
    "hypercare-silence-modal": (
        {
            "duration": {"input": {"type": "static_select", "selected_option": {"value": "1h"}}},
            "reason": {"input": {"type": "plain_text_input", "value": "noise"}},
        },
        "reason",
        "Only hypercare leads can silence alerts",
    ),
    "hypercare-known-modal": (
        {"workaround": {"input": {"type": "plain_text_input", "value": "restart it"}}},
        "workaround",
        "Only hypercare leads can mark or retire known issues",
    ),
    "hypercare-merge-modal": (
        {"merge-target": {"input": {"type": "plain_text_input", "value": "HC-2"}}},
        "merge-target",
        "Only hypercare leads can merge items",
    ),
}


@pytest.mark.parametrize("callback", list(MODAL_ROWS))
def test_a_member_submitting_a_lead_only_modal_is_refused_on_the_form(
    secured: Secured, callback: str
) -> None:
    """A lead's modal submitted by a member (a lead no more, or a forged view) is refused on
    its own field and changes nothing: roles are checked again at submit."""
    values, block, refusal = MODAL_ROWS[callback]
    view = {
        "id": f"V{callback}",
        "type": "modal",
        "callback_id": callback,
        "private_metadata": "1",
        "state": {"values": values},
    }
    payload = {"type": "view_submission", "user": {"id": MEMBER}, "view": view}
    before = snapshot(secured.bot)
    response = secured.user.send_raw(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors" and refusal in answer["errors"][block]
    assert snapshot(secured.bot) == before


# -- the Jira webhook -----------------------------------------------------------------------------


def hook_signature(raw: bytes, secret: str = HOOK_SECRET) -> str:
    """Jira's X-Hub-Signature of a body."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


EVENT = json.dumps(
    {
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "HYP-1", "fields": {"status": {"name": CANARY}}},
        "changelog": {"items": [{"field": "status", "toString": CANARY}]},
    }
).encode()
HOOK_ROWS: dict[str, dict[str, str]] = {
    "missing signature": {},
    "wrong secret": {"X-Hub-Signature": hook_signature(EVENT, "guessed-secret")},
    "another body's signature": {"X-Hub-Signature": hook_signature(b"{}")},
    "upper-case hex": {"X-Hub-Signature": hook_signature(EVENT).upper()},
    "sha1 prefix": {"X-Hub-Signature": "sha1=" + hook_signature(EVENT)[7:]},
    "empty signature": {"X-Hub-Signature": ""},
}


@pytest.mark.parametrize("row", list(HOOK_ROWS))
def test_a_forged_jira_webhook_is_refused_and_changes_nothing(secured: Secured, row: str) -> None:
    """A webhook without the shared secret's signature is a 401: no status change, its
    delivery id not taken (the genuine delivery still counts), its body not logged."""
    url = f"http://127.0.0.1:{secured.bot.port}/jira/webhook"
    identifier = f"forged-{row}"
    headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": identifier}
    before = snapshot(secured.bot)
    with Recorded("", logging.DEBUG) as records:
        forged = httpx.post(url, content=EVENT, headers={**headers, **HOOK_ROWS[row]})
    assert forged.status_code == 401
    assert snapshot(secured.bot) == before
    assert "jira webhook refused" in messages(records) and CANARY not in messages(records)
    genuine = httpx.post(
        url, content=b"{}", headers={**headers, "X-Hub-Signature": hook_signature(b"{}")}
    )
    assert genuine.json() == {"status": "ok"}  # not "duplicate": the forgery took no id
