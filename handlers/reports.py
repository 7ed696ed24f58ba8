"""Report listeners: `/hypercare exit-report`, the closing report a lead posts at hand-over."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from bot.reports.exit import window_start
from bot.slack.blocks import exit as blocks
from handlers.services import Services


def exit_report(ack: Ack, command: dict[str, Any], services: Services) -> None:
    """Leads only: queue the report for the digest channel, and say so (or why not) privately."""
    outcome = services.exit_report.request(command["user_id"])
    program = services.program
    start = window_start(program).astimezone(program.zone).date()
    ack(response_type="ephemeral", text=blocks.exit_answer(outcome, program, start))
