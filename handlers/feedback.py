"""Feedback listeners: open the modal (command or shortcut) and take its submission."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import PlusOneOutcome
from bot.slack.blocks import feedback as blocks
from bot.slack.blocks import intake as intake_blocks
from bot.slack.blocks import oncall as oncall_blocks
from handlers import (
    alerts,
    escalation,
    forms,
    home,
    intake,
    lessons,
    owners,
    pulse,
    rca,
    reports,
    tickets,
)
from handlers.services import Services


def answer_command(
    ack: Ack,
    command: dict[str, Any],
    client: WebClient,
    services: Services,
    after_ack: Callable[[Callable[[], object]], None],
) -> None:
    """Route `/hypercare [help | ticket X | oncall | escalate X | override … | known … |
    merge X into Y | top | assign X @who | postmortem X | lesson [text] | lessons |
    pulse [comments] | <summary>]`."""
    text = command.get("text") or ""
    if forms.is_help(text):
        text, rendered = blocks.help_message(services.program)
        ack(text=text, blocks=rendered, response_type="ephemeral")
    elif reference := forms.ticket_reference(text):
        tickets.show_ticket(ack, reference, services)
    elif text.strip().lower() == "metrics":
        alerts.show_metrics(ack, services)
    elif text.strip().lower() == "silences":
        alerts.show_silences(ack, services)
    elif text.strip().lower() == "oncall":
        show_oncall(ack, services)
    elif text.strip().lower() == "status":
        home.show_status(ack, command["user_id"], services)
    elif forms.is_exit_report(text):
        reports.exit_report(ack, command, services)
    elif reference := forms.escalate_reference(text):
        escalation.reescalate(ack, reference, command, services)
    elif override := forms.override_text(text):
        escalation.override(ack, override, command, services)
    elif forms.is_known_list(text):
        intake.show_known(ack, services)
    elif known := forms.known_command(text):
        intake.mark_known(ack, known, command, services)
    elif merge := forms.merge_command(text):
        intake.merge(ack, merge, command, services)
    elif text.strip().lower() == "top":
        intake.show_top(ack, services)
    elif (assigned := forms.assign_command(text)) is not None:
        owners.assign(ack, assigned, command, services)
    elif (reference := forms.postmortem_command(text)) is not None:
        rca.postmortem(ack, reference, command, services)
    elif forms.is_lessons_list(text):
        lessons.show_lessons(ack, services)
    elif (lesson := forms.lesson_command(text)) is not None:
        lessons.open_lesson_modal(ack, lesson, command, client, services, after_ack)
    elif (asked := pulse.command(text)) is not None:
        pulse.answer_command(ack, asked, command, services)
    else:
        open_feedback_modal(ack, command, client, services, after_ack)


def show_oncall(ack: Ack, services: Services) -> None:
    """Show who is on call now and next, privately."""
    text, rendered = oncall_blocks.oncall_now(services.oncall.now())
    ack(response_type="ephemeral", text=text, blocks=rendered)


def open_feedback_modal(
    ack: Ack,
    command: dict[str, Any],
    client: WebClient,
    services: Services,
    after_ack: Callable[[Callable[[], object]], None],
) -> None:
    """Open the feedback form, prefilled with the command's text as the summary."""
    ack()
    prefill = forms.prefill_from_command(command, services.program.channels.feedback)
    view = blocks.feedback_modal_json(services.program, prefill)
    after_ack(lambda: client.views_open(trigger_id=command["trigger_id"], view=view))


def open_feedback_from_message(
    ack: Ack,
    shortcut: dict[str, Any],
    client: WebClient,
    services: Services,
    after_ack: Callable[[Callable[[], object]], None],
) -> None:
    """Answer the "Report to hypercare" shortcut: open the form prefilled from the message."""
    ack()

    def open_form() -> None:
        message = shortcut.get("message") or {}
        message_ts = message.get("ts") or shortcut.get("message_ts") or ""
        permalink = services.notifier.permalink(shortcut["channel"]["id"], message_ts)
        feedback = services.program.channels.feedback
        prefill = forms.prefill_from_message(shortcut, feedback, permalink)
        view = blocks.feedback_modal_json(services.program, prefill)
        client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    after_ack(open_form)


def submit_feedback(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Store the submitted feedback, then close the modal; problems go back inline. With a
    suggestion chosen as the same problem, join it instead (no new feedback)."""
    draft = forms.draft_from_view(view, reporter_id=body["user"]["id"])
    if (same := forms.same_as(view)) is not None:
        result = services.intake.duplicates.plus_one(same, draft)
        if result.outcome is PlusOneOutcome.ADDED:
            ack(response_action="update", view=intake_blocks.plus_one_view(result))
        else:
            errors = {forms.same_as_block(view): intake_blocks.plus_one_refusal(result)}
            ack(response_action="errors", errors=errors)
        return
    if problems := services.feedback.problems(draft):
        ack(response_action="errors", errors=forms.block_errors(problems))
        return
    services.feedback.submit(draft)
    ack()
