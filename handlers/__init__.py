"""Slack listeners and their routing table."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App

from bot.domain import Field
from bot.slack.ids import COMMAND, Action, Callback, block_id, score_action
from handlers import (
    alerts,
    escalation,
    feedback,
    home,
    intake,
    lessons,
    owners,
    pulse,
    rca,
    tickets,
)


def register(app: App) -> None:
    """Route every Slack request the bot answers to its listener."""
    app.command(COMMAND)(feedback.answer_command)
    app.message_shortcut(Callback.REPORT_MESSAGE)(feedback.open_feedback_from_message)
    app.view_submission(Callback.FEEDBACK_MODAL)(feedback.submit_feedback)
    summary_typed: dict[str, str | re.Pattern[Any]] = {
        "block_id": block_id(Field.SUMMARY),
        "action_id": Action.INPUT,
    }
    app.action(summary_typed)(intake.suggest_similar)
    app.action(Action.PLUS_ONE)(intake.plus_one_in_form)
    app.action(Action.MARK_KNOWN)(intake.open_known_modal)
    app.view_submission(Callback.KNOWN_MODAL)(intake.submit_known_modal)
    app.action(Action.MERGE_INTO)(intake.open_merge_modal)
    app.view_submission(Callback.MERGE_MODAL)(intake.submit_merge_modal)
    app.action(Action.TAKE_ITEM)(owners.take_item)
    app.action(Action.RESOLVE_ITEM)(owners.resolve_item)
    app.action(Action.RECORD_ROOT_CAUSE)(rca.open_root_cause_modal)
    app.view_submission(Callback.ROOT_CAUSE_MODAL)(rca.submit_root_cause)
    app.action(Action.ADD_LESSON)(lessons.open_lesson_from_postmortem)
    app.view_submission(Callback.LESSON_MODAL)(lessons.submit_lesson)
    scores = re.compile("^(" + "|".join(re.escape(score_action(n)) for n in range(1, 6)) + ")$")
    app.action(scores)(pulse.answer_score)
    app.action(Action.PULSE_COMMENT)(pulse.open_comment_modal)
    app.view_submission(Callback.PULSE_COMMENT_MODAL)(pulse.submit_comment)
    app.action(Action.CREATE_TICKET)(tickets.create_ticket)
    app.action(Action.ACK_ALERT)(alerts.acknowledge_alert)
    app.action(Action.ACK_ITEM)(escalation.acknowledge_item)
    app.action(Action.ACK_GROUP)(escalation.acknowledge_group)
    app.event("app_home_opened")(home.publish_home)
    app.action(Action.SILENCE_ALERT)(alerts.open_silence_modal)
    app.view_submission(Callback.SILENCE_MODAL)(alerts.submit_silence)
    app.action(Action.END_SILENCE)(alerts.end_silence)
    app.action(Action.ALERT_TICKET)(alerts.create_alert_ticket)
