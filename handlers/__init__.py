"""Slack listeners and their routing table."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.ids import COMMAND, Callback
from handlers import feedback


def register(app: App) -> None:
    """Route every Slack request the bot answers to its listener."""
    app.command(COMMAND)(feedback.open_feedback_modal)
    app.message_shortcut(Callback.REPORT_MESSAGE)(feedback.open_feedback_from_message)
    app.view_submission(Callback.FEEDBACK_MODAL)(feedback.submit_feedback)
