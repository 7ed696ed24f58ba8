"""Arbitrary Slack payloads and Jira webhook bodies, signed, sent to the running bot.

Every interaction type the bot handles (slash commands, view submissions, block actions,
message shortcuts, events) gets arbitrary user-controlled content: the bot answers with a 2xx
or 4xx, a validation error or a private note where one is due, logs no failure, and stores
nothing twice. The bot runs once per test on SQLite; the examples share it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.slack.ids import Action, Callback, score_action
from sandbox.demo.samples import feedback_form
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.user import build_state_values
from storage.db import make_sessions
from storage.models import FeedbackRow, OutboxRow
from tests.conftest import bot_settings
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.hostile.conftest import E2E, crashes
from tests.hostile.strategies import SLACK_MESSAGE_MAX, any_text, hostile_text
from tests.hostile.test_parsers import json_values
from tests.support import wait_outbox_drained

FEEDBACK, LEAD, MEMBER = "C0FEEDBACK", "U0LEAD1", "U0BOB"
users = st.sampled_from(["U0ALICE", MEMBER, LEAD, "U0STRANGER"])


def count(bot: Runtime, model: type[FeedbackRow] | type[OutboxRow]) -> int:
    """Rows of one table."""
    with make_sessions(bot.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def failed_outbox(bot: Runtime) -> list[tuple[str, str | None]]:
    """(kind, last error) of the side effects given up for good."""
    with make_sessions(bot.engine)() as session:
        rows = session.execute(
            select(OutboxRow.kind, OutboxRow.last_error).where(OutboxRow.status == "failed")
        )
        return [(str(kind), error) for kind, error in rows]


def send(user: SlackUserSimulator, payload: dict[str, Any]) -> httpx.Response:
    """Post an interactivity payload as Slack does (form field `payload`), signed."""
    return user.send_raw(urlencode({"payload": json.dumps(payload)}))


def form_submission(
    callback: str, metadata: str, state: dict[str, Any], who: str
) -> dict[str, Any]:
    """A signed-to-be view_submission of a form with this callback, metadata and state."""
    view = {
        "id": f"VFORM{next(ids)}",
        "type": "modal",
        "callback_id": callback,
        "private_metadata": metadata,
        "hash": "1.x",
        "blocks": [],
        "state": {"values": state},
    }
    return {
        "type": "view_submission",
        "team": {"id": "T0HYPER"},
        "user": {"id": who, "team_id": "T0HYPER"},
        "api_app_id": "A0HYPERCARE",
        "trigger_id": f"1.{next(ids)}.x",
        "view": view,
    }


def answered(response: httpx.Response) -> dict[str, Any]:
    """The bot's answer: a 2xx with an empty body or a JSON object."""
    assert 200 <= response.status_code < 300, response.status_code
    return response.json() if response.content else {}


# -- slash commands ------------------------------------------------------------------------------

command_text = st.one_of(
    hostile_text(),
    st.lists(
        st.sampled_from(
            ["ticket", "escalate", "override", "known", "done", "merge", "into", "top", "help"]
        )
        | st.just("exit-report")
        | st.sampled_from(["HC-1", "HC-99999", "<@U0BOB>", "until", "18:00", "for", "4h"])
        | hostile_text(12),
        max_size=6,
    ).map(" ".join),
)


@E2E
@given(text=command_text, who=users)
def test_any_command_text_gets_an_answer_and_stores_nothing(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    logged: list[logging.LogRecord],
    text: str,
    who: str,
) -> None:
    """`/hypercare <anything>` by anyone is acked with a private answer or a form; no report
    is stored and nothing fails."""
    before = count(bot, OutboxRow)
    body = answered(user.slash_command(text, user_id=who))
    if body:
        assert body.get("response_type") == "ephemeral" and body.get("text")
    assert count(bot, FeedbackRow) == 0
    if who != LEAD:  # only leads change anything by command (known, merge, escalate)
        assert count(bot, OutboxRow) == before
    assert crashes(logged) == []


# -- view submissions ----------------------------------------------------------------------------


def field_state(value: Any) -> st.SearchStrategy[Any]:
    """What one input's state may hold: a good value, user text, nothing, or a wrong shape."""
    return st.one_of(
        st.just(("good", value)),
        hostile_text().map(lambda t: ("text", t)),
        st.just(("missing", None)),
        json_values.map(lambda j: ("raw", j)),
    )


ids = itertools.count(1)


@pytest.fixture
def form(user: SlackUserSimulator, slack: SlackEmulator) -> dict[str, Any]:
    """The feedback form as the bot opens it."""
    return open_modal(user, slack)


@E2E
@given(data=st.data())
def test_any_feedback_submission_is_stored_once_or_refused_inline(
    bot: Runtime,
    user: SlackUserSimulator,
    form: dict[str, Any],
    logged: list[logging.LogRecord],
    data: st.DataObject,
) -> None:
    """A form submitted with arbitrary, missing or mistyped values is stored (once, however
    often it is delivered) or refused with errors on its own fields; receipts all go out."""
    view = form
    good = feedback_form(data.draw(st.sampled_from([FEEDBACK, "C0GENERAL"])))
    chosen = {block: data.draw(field_state(value), label=block) for block, value in good.items()}
    typed = {b: v for b, (kind, v) in chosen.items() if kind in ("good", "text")}
    state = build_state_values(view, typed)
    for block, (kind, raw) in chosen.items():
        if kind == "missing":
            state.pop(block, None)
        elif kind == "raw":
            state[block] = {"input": raw} if data.draw(st.booleans()) else raw
    submitted = copy.deepcopy(view)
    submitted["id"] = f"VHOSTILE{next(ids)}"  # each example is another modal
    submitted["state"] = {"values": state}
    payload = {
        "type": "view_submission",
        "team": {"id": "T0HYPER"},
        "user": {"id": data.draw(users), "team_id": "T0HYPER"},
        "api_app_id": "A0HYPERCARE",
        "trigger_id": f"1.{next(ids)}.x",
        "view": submitted,
    }
    before = count(bot, FeedbackRow)
    body = answered(send(user, payload))
    if body:
        assert body["response_action"] == "errors"
        inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
        assert body["errors"] and set(body["errors"]) <= inputs
        assert count(bot, FeedbackRow) == before
    else:
        assert count(bot, FeedbackRow) == before + 1
    answered(send(user, payload))  # Slack's retry, or a double click
    assert count(bot, FeedbackRow) == before + (0 if body else 1)
    wait_outbox_drained(bot.engine)
    assert failed_outbox(bot) == []
    assert crashes(logged) == []


# -- block actions -------------------------------------------------------------------------------

MESSAGE_ACTIONS = [
    Action.CREATE_TICKET,
    Action.ACK_ALERT,
    Action.SILENCE_ALERT,
    Action.END_SILENCE,
    Action.ALERT_TICKET,
    Action.ACK_ITEM,
    Action.ACK_GROUP,
    Action.MARK_KNOWN,
    Action.MERGE_INTO,
    Action.TAKE_ITEM,
    Action.RESOLVE_ITEM,
    Action.RECORD_ROOT_CAUSE,
    Action.ADD_LESSON,
    *(score_action(n) for n in range(1, 6)),  # the pulse's numbers: an answer queues nothing
    Action.PULSE_COMMENT,
]
# Buttons any member may press to change something: *Take it* makes the presser the owner.
ANYONE_MAY = {Action.TAKE_ITEM}
button_values = st.one_of(
    hostile_text(40),
    st.sampled_from(["1", "2", "0", "999999999999", "feedback:1", "alert:1", "feedback:x", ""]),
    st.integers(min_value=-5, max_value=10**15).map(str),
)


def button_payload(action_id: str, value: str, who: str, ts: str) -> dict[str, Any]:
    """A click on a button of a message in the feedback channel."""
    return {
        "type": "block_actions",
        "user": {"id": who, "team_id": "T0HYPER"},
        "api_app_id": "A0HYPERCARE",
        "container": {"type": "message", "message_ts": ts, "channel_id": FEEDBACK},
        "trigger_id": f"1.{next(ids)}.x",
        "team": {"id": "T0HYPER"},
        "channel": {"id": FEEDBACK, "name": "hypercare-feedback"},
        "message": {"type": "message", "ts": ts, "text": ""},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


@pytest.fixture
def filed(bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator) -> str:
    """One report (HC-1) with its receipt posted; returns the receipt's ts."""
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values(severity="sev3")).status_code == 200
    receipt = slack.wait_for("chat.postMessage")[0]
    wait_outbox_drained(bot.engine)
    return str(receipt.response["ts"])


@E2E
@given(action=st.sampled_from(MESSAGE_ACTIONS), value=button_values, who=users)
def test_any_button_press_is_acked_and_changes_nothing_for_a_member(
    bot: Runtime,
    user: SlackUserSimulator,
    filed: str,
    logged: list[logging.LogRecord],
    action: str,
    value: str,
    who: str,
) -> None:
    """Each button the bot has, pressed with any value by anyone, is acked with a 200; a
    member's press queues nothing and no press stores a report or fails."""
    before = count(bot, OutboxRow)
    answered(send(user, button_payload(action, value, who, filed)))
    assert count(bot, FeedbackRow) == 1
    if who in (MEMBER, "U0STRANGER") and action not in ANYONE_MAY:
        assert count(bot, OutboxRow) == before
    wait_outbox_drained(bot.engine)
    assert crashes(logged) == []


@E2E
@given(data=st.data(), value=button_values, who=users)
def test_any_action_inside_the_form_is_acked_without_failure(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    filed: str,
    logged: list[logging.LogRecord],
    data: st.DataObject,
    value: str,
    who: str,
) -> None:
    """Typing a summary or pressing "+1" in the form, with any text and value, is acked, stores
    no report and fails nothing."""
    view = open_modal(user, slack)
    summary = data.draw(any_text())
    current = copy.deepcopy(view)
    current["state"] = {"values": build_state_values(view, {"summary": summary})}
    kind = data.draw(st.sampled_from(["typed", "plus-one"]))
    action = (
        {"type": "plain_text_input", "block_id": "summary", "action_id": "input", "value": summary}
        if kind == "typed"
        else {"type": "button", "block_id": "similar-1", "action_id": "plus-one", "value": value}
    )
    payload = {
        "type": "block_actions",
        "user": {"id": who, "team_id": "T0HYPER"},
        "api_app_id": "A0HYPERCARE",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": f"1.{next(ids)}.x",
        "team": {"id": "T0HYPER"},
        "view": current,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }
    answered(send(user, payload))
    assert count(bot, FeedbackRow) == 1
    wait_outbox_drained(bot.engine)
    assert crashes(logged) == []


# -- message shortcuts ---------------------------------------------------------------------------


@E2E
@given(
    text=any_text(),
    blocks=st.one_of(st.just(None), st.lists(json_values, max_size=3)),
    author=st.sampled_from(["U0BOB", None, ""]),
    ts=st.one_of(st.just("1700000000.000100"), hostile_text(20)),
)
def test_any_message_reported_opens_a_form(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    logged: list[logging.LogRecord],
    text: str,
    blocks: list[Any] | None,
    author: str | None,
    ts: str,
) -> None:
    """ "Report to hypercare" on a message of any text and blocks opens a form Slack accepts,
    prefilled within its limits; nothing is stored before it is submitted."""
    message: dict[str, Any] = {"type": "message", "text": text, "ts": ts}
    if blocks is not None:
        message["blocks"] = blocks
    if author is not None:
        message["user"] = author
    opened = len([c for c in slack.calls_to("views.open") if c.response.get("ok")])
    payload = {
        "type": "message_action",
        "callback_id": Callback.REPORT_MESSAGE,
        "trigger_id": user._trigger(None),
        "user": {"id": "U0ALICE", "team_id": "T0HYPER"},
        "team": {"id": "T0HYPER"},
        "channel": {"id": "C0GENERAL", "name": "payments-general"},
        "message_ts": ts,
        "message": message,
    }
    answered(send(user, payload))
    [*_, last] = slack.wait_for("views.open", count=opened + 1)
    assert last.response["ok"]
    assert count(bot, FeedbackRow) == 0
    assert crashes(logged) == []


# -- events ----------------------------------------------------------------------------------------


@E2E
@given(
    event=st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("app_home_opened"), "user": st.sampled_from(["U0ALICE", "U0BOB"])},
            optional={"tab": st.sampled_from(["home", "messages"]) | hostile_text(10)},
        ),
        st.dictionaries(hostile_text(10), json_values, max_size=4),
        st.fixed_dictionaries({"type": hostile_text(20), "text": hostile_text()}),
    ),
    envelope_type=st.sampled_from(["event_callback", "event_callback", "app_rate_limited"]),
)
def test_any_event_is_acked_without_failure(
    bot: Runtime,
    user: SlackUserSimulator,
    logged: list[logging.LogRecord],
    event: dict[str, Any],
    envelope_type: str,
) -> None:
    """Events of any type and content get a 200 (the Home tab) or 404 (types the bot does not
    subscribe to), never a 5xx, and fail nothing."""
    envelope = {
        "token": "legacy-verification-token",
        "team_id": "T0HYPER",
        "api_app_id": "A0HYPERCARE",
        "event": event,
        "type": envelope_type,
        "event_id": f"Ev{next(ids)}",
        "event_time": int(time.time()),
    }
    response = user.send_raw(json.dumps(envelope), headers={"Content-Type": "application/json"})
    if event.get("type") == "app_home_opened" and envelope_type == "event_callback":
        assert response.status_code == 200
    else:  # Bolt answers an event no listener takes with 404; Slack sends the bot none such
        assert response.status_code in (200, 404)
    assert count(bot, FeedbackRow) == 0
    assert crashes(logged) == []


# -- the Jira webhook ------------------------------------------------------------------------------

HOOK_SECRET = "hostile-hook-secret"


@pytest.fixture
def jira_bot(slack: SlackEmulator, database_url: str, program: Program) -> Iterator[Runtime]:
    """The bot with Jira and its webhook secret."""
    jira = JiraEmulator(email="bot@example.com", api_token="t", webhook_secret=HOOK_SECRET)
    jira.start()
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": "bot@example.com",
            "jira_api_token": SecretStr("t"),
            "jira_webhook_secret": SecretStr(HOOK_SECRET),
        }
    )
    runtime = build_runtime(settings, program).start()
    yield runtime
    runtime.stop()
    jira.stop()


def post_webhook(bot: Runtime, raw: bytes, identifier: str | None = None) -> int:
    """POST a body to the Jira webhook, signed with the right secret."""
    digest = hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": f"sha256={digest}"}
    if identifier is not None:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    response = httpx.post(f"http://127.0.0.1:{bot.port}/jira/webhook", content=raw, headers=headers)
    return response.status_code


def status_events() -> st.SearchStrategy[dict[str, Any]]:
    """Issue events shaped like Jira's, with arbitrary values in every place."""
    return st.fixed_dictionaries(
        {
            "webhookEvent": st.sampled_from(["jira:issue_updated", "jira:issue_created"])
            | hostile_text(20),
            "issue": json_values
            | st.fixed_dictionaries(
                {"key": st.sampled_from(["HYP-1", "HC-1"]) | json_values, "fields": json_values}
            ),
            "changelog": json_values
            | st.fixed_dictionaries(
                {"items": st.lists(st.fixed_dictionaries({"field": st.just("status")}))}
            ),
        },
        optional={"timestamp": json_values, "user": json_values},
    )


@E2E
@given(
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        status_events().map(lambda v: json.dumps(v).encode()),
    ),
    identifier=st.one_of(
        st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    ),
)
def test_any_signed_webhook_body_gets_a_2xx_or_4xx(
    jira_bot: Runtime, logged: list[logging.LogRecord], body: bytes, identifier: str | None
) -> None:
    """A correctly signed webhook with any body (bytes, any JSON, odd issue events) is answered
    2xx or 4xx, never 5xx, and fails nothing."""
    assert 200 <= post_webhook(jira_bot, body, identifier) < 500
    assert crashes(logged) == []


def test_the_longest_message_slack_keeps_can_be_reported(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A shortcut on a 40,000-character Cyrillic message (about 640 KB as Slack posts it) is
    taken, not refused as oversized, and opens the form."""
    response = user.message_shortcut(
        callback_id=Callback.REPORT_MESSAGE,
        message_text="ж" * SLACK_MESSAGE_MAX,
        message_ts="1700000000.000200",
        channel_id="C0GENERAL",
    )
    assert response.status_code == 200
    [opened] = slack.wait_for("views.open")
    assert opened.response["ok"]


FORM_FIELDS = {
    Callback.ROOT_CAUSE_MODAL: [
        "rca-symptom",
        "rca-why-1",
        "rca-why-2",
        "rca-category",
        "rca-fix",
        "rca-prevention",
    ],
    Callback.LESSON_MODAL: ["lesson-text", "lesson-kind", "lesson-items"],
    Callback.PULSE_COMMENT_MODAL: ["pulse-score", "pulse-comment"],
}


@E2E
@given(
    callback=st.sampled_from(list(FORM_FIELDS)),
    data=st.data(),
    metadata=st.one_of(button_values, st.just("1")),
    who=users,
)
def test_any_root_cause_lesson_or_pulse_comment_form_is_answered_without_failure(
    bot: Runtime,
    user: SlackUserSimulator,
    filed: str,
    logged: list[logging.LogRecord],
    callback: str,
    data: st.DataObject,
    metadata: str,
    who: str,
) -> None:
    """The root-cause, lesson and pulse comment forms, submitted with any values in any field
    (or none) by
    anyone, are answered with a 200 (stored, or sent back with the problem on a field), and
    nothing fails or stores a report."""
    state: dict[str, Any] = {}
    for field in FORM_FIELDS[callback]:
        value = data.draw(st.one_of(st.none(), hostile_text(300)))
        if value is None:
            continue
        if field in ("rca-category", "lesson-kind", "pulse-score"):
            state[field] = {"input": {"type": "static_select", "selected_option": {"value": value}}}
        else:
            state[field] = {"input": {"type": "plain_text_input", "value": value}}
    answered(send(user, form_submission(callback, metadata, state, who)))
    assert count(bot, FeedbackRow) == 1
    wait_outbox_drained(bot.engine)
    assert crashes(logged) == []
