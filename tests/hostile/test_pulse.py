"""The user pulse under hostile input: forged button values read as a pulse and a score or
nothing; user text in the question and comments stays inert wherever it is shown; any press of
any number, and any comment form, by anyone, stores at most one answer per person, a score of 1
to 5 and a comment within its limit, queues nothing and fails nothing."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app.build import Runtime
from bot.config import Program, load_program
from bot.domain import Pulse, PulseAnswer, PulseAudience
from bot.pulse.program import PulseProgram
from bot.pulse.service import COMMENT_MAX
from bot.slack.blocks import pulse as blocks
from bot.slack.ids import Action, score_action
from handlers.pulse import MAX_ID, _pulse_id, _score
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage.db import make_sessions
from storage.models import OutboxRow, PulseAnswerRow
from tests.conftest import ROOT
from tests.hostile.conftest import E2E, PURE, crashes
from tests.hostile.strategies import any_text, hostile_text
from tests.hostile.test_escaping import BOT_DATE, ENTITY, SLACK_CONTROL, _mrkdwn
from tests.hostile.test_parsers import json_values
from tests.hostile.test_payloads import (
    answered,
    button_values,
    count,
    form_submission,
    ids,
    send,
    users,
)

LEAD = "U0LEAD1"
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@PURE
@given(json_values)
@example("1:5")
@example("99999999999:4")
@example("²:4")
@example("1:²")
@example("-1:3")
@example("2147483648:3")
def test_any_button_value_reads_as_a_pulse_and_score_or_nothing(value: Any) -> None:
    """A number's button value forged to anything gives a pulse id the database can hold and a
    digit, or None; *Add a comment*'s value a pulse id or None."""
    pulse_id, score = _score({"value": value})
    assert pulse_id is None or 0 <= pulse_id <= MAX_ID
    assert score is None or 0 <= score <= 9
    single = _pulse_id(value)
    assert single is None or 0 <= single <= MAX_ID


def _pulse(question: str) -> Pulse:
    return Pulse(1, "now:x", question, PulseAudience.CHANNEL, "C0FEEDBACK", 0, LEAD, AT, AT)


@PURE
@given(any_text(300), any_text(COMMENT_MAX))
@example("<!channel> <@U123> <https://evil|click> &", "<!here|here> <#C1|x> *_~`")
def test_user_text_in_the_pulse_pings_nobody_and_links_nowhere(question: str, comment: str) -> None:
    """The question (program file) and a comment (a person) are inert in the pulse message,
    the comment form and a lead's list of comments: the only control sequences are the bot's
    own dates."""
    pulse = _pulse(question)
    answer = PulseAnswer(1, "U0ALICE", 3, comment, AT, AT)
    rendered: list[Any] = [
        blocks.pulse_message(pulse)[1],
        blocks.comments_message([answer], 1)[1],
        blocks.comment_modal(pulse, answer)["blocks"],
    ]
    texts = [blocks.pulse_message(pulse)[0]]
    texts += _mrkdwn([b if isinstance(b, dict) else b.to_dict() for r in rendered for b in r])
    for text in texts:
        found = {c for c in SLACK_CONTROL.findall(text) if not BOT_DATE.match(c)}
        assert found == set(), text[:300]
        assert not ENTITY.search(text)


@pytest.fixture
def program() -> Program:
    """The example program with a pulse that only a lead sends (no schedule), in the feedback
    channel."""
    example = load_program(ROOT / "hypercare.example.yaml")
    channels = example.channels.model_copy(update={"digest": None})
    return example.model_copy(
        update={
            "oncall": None,
            "escalation": None,
            "channels": channels,
            "pulse": PulseProgram(enabled=False),
        }
    )


@pytest.fixture
def sent(bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator) -> str:
    """Pulse 1, sent now by a lead; returns its message's ts."""
    answer = user.slash_command("pulse", user_id=LEAD).json()
    assert "Pulse sent" in answer["text"]
    posted = slack.wait_for("chat.postMessage")[0]
    assert "pulse-score-1" in json.dumps(posted.args["blocks"])
    return str(posted.response["ts"])


def answers(bot: Runtime) -> list[tuple[int, str, int, str | None]]:
    """Every stored answer: pulse, person, score, comment."""
    query = select(
        PulseAnswerRow.pulse_id,
        PulseAnswerRow.user_id,
        PulseAnswerRow.score,
        PulseAnswerRow.comment,
    )
    with make_sessions(bot.engine)() as session:
        return [(int(p), str(u), int(s), c) for p, u, s, c in session.execute(query)]


def well_formed(bot: Runtime) -> None:
    """One answer per person per pulse, a score of 1 to 5, a comment within its limit."""
    stored = answers(bot)
    assert len({(p, u) for p, u, _, _ in stored}) == len(stored)
    assert all(1 <= s <= 5 for _, _, s, _ in stored)
    assert all(c is None or 0 < len(c) <= COMMENT_MAX for _, _, _, c in stored)


score_values = st.one_of(
    button_values,
    st.builds(lambda p, s: f"{p}:{s}", st.sampled_from(["1", "2", "0", "01"]), st.integers(-1, 9)),
)


@E2E
@given(
    action=st.sampled_from([*(score_action(n) for n in range(1, 6)), Action.PULSE_COMMENT]),
    value=score_values,
    who=users,
)
def test_any_press_under_a_pulse_stores_at_most_one_good_answer_per_person(
    bot: Runtime,
    user: SlackUserSimulator,
    sent: str,
    logged: list[logging.LogRecord],
    action: str,
    value: str,
    who: str,
) -> None:
    """Any number's button or *Add a comment*, with any value, by anyone, is acked; answers
    stay one per person with a score of 1 to 5, and a press queues nothing."""
    before = count(bot, OutboxRow)
    payload = {
        "type": "block_actions",
        "user": {"id": who, "team_id": "T0HYPER"},
        "api_app_id": "A0HYPERCARE",
        "container": {"type": "message", "message_ts": sent, "channel_id": "C0FEEDBACK"},
        "trigger_id": f"1.{next(ids)}.x",
        "team": {"id": "T0HYPER"},
        "channel": {"id": "C0FEEDBACK", "name": "hypercare-feedback"},
        "message": {"type": "message", "ts": sent, "text": ""},
        "actions": [
            {
                "action_id": action,
                "block_id": "pulse-scores",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    answered(send(user, payload))
    assert count(bot, OutboxRow) == before
    well_formed(bot)
    assert crashes(logged) == []


@E2E
@given(
    score=st.one_of(st.none(), st.sampled_from(["1", "5", "0", "6", "x"]), hostile_text(5)),
    comment=st.one_of(st.none(), hostile_text(300), st.text(min_size=990, max_size=1010)),
    metadata=st.one_of(button_values, st.just("1")),
    who=users,
)
def test_any_comment_form_stores_at_most_one_good_answer_per_person(
    bot: Runtime,
    user: SlackUserSimulator,
    sent: str,
    logged: list[logging.LogRecord],
    score: str | None,
    comment: str | None,
    metadata: str,
    who: str,
) -> None:
    """The comment form submitted with any score, comment and pulse id, by anyone, is stored
    (within the rules) or sent back with the problem on a field; nothing fails."""
    state: dict[str, Any] = {}
    if score is not None:
        selected = {"type": "static_select", "selected_option": {"value": score}}
        state["pulse-score"] = {"input": selected}
    if comment is not None:
        state["pulse-comment"] = {"input": {"type": "plain_text_input", "value": comment}}
    payload = form_submission("hypercare-pulse-comment-modal", metadata, state, who)
    body = answered(send(user, payload))
    if body.get("response_action") == "errors":
        assert set(body["errors"]) <= {"pulse-score", "pulse-comment"}
    else:
        assert body.get("response_action") == "update"
    well_formed(bot)
    assert crashes(logged) == []
