"""Root-cause listeners: *Record root cause* and its form, `/hypercare postmortem HC-42`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.rca.service import WHYS, RcaField, RcaOutcome, RootCauseForm
from bot.slack.blocks import rca as blocks
from handlers import forms
from handlers.services import Services


def open_root_cause_modal(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Record root cause*: the owner (or a lead) gets the form; anyone else is told why not."""
    ack()
    user = body["user"]["id"]
    feedback_id = forms.numeric_id(action)
    feedback = services.rca.get(feedback_id) if feedback_id is not None else None
    outcome = services.rca.may_record(feedback, user) if feedback else RcaOutcome.UNKNOWN
    if feedback is not None and outcome is RcaOutcome.DONE:
        client.views_open(
            trigger_id=body["trigger_id"], view=blocks.modal(feedback, services.program)
        )
        return
    text = blocks.refusal(outcome, str(action.get("value") or ""))
    client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=text)


def submit_root_cause(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Store the root cause, then close the form; problems go back on their fields."""
    form = RootCauseForm(
        symptom=forms.text_input(view, blocks.field_block(RcaField.SYMPTOM)),
        whys=tuple(
            forms.text_input(view, blocks.field_block(RcaField.WHYS, n)) for n in range(1, WHYS + 1)
        ),
        category=forms.select_input(view, blocks.field_block(RcaField.CATEGORY)),
        fix=forms.text_input(view, blocks.field_block(RcaField.FIX)),
        prevention=forms.text_input(view, blocks.field_block(RcaField.PREVENTION)),
    )
    if problems := services.rca.problems(form):
        errors = {
            blocks.field_block(field, 1 if field is RcaField.WHYS else 0): text
            for field, text in problems.items()
        }
        ack(response_action="errors", errors=errors)
        return
    feedback_id = forms.metadata_id(view)
    outcome, _ = (
        services.rca.record(feedback_id, form, body["user"]["id"])
        if feedback_id is not None
        else (RcaOutcome.UNKNOWN, None)
    )
    if outcome is RcaOutcome.DONE:
        ack()
        return
    text = forms.plain_command_text(blocks.refusal(outcome, "this item"))
    ack(response_action="errors", errors={blocks.field_block(RcaField.SYMPTOM): text})


def postmortem(ack: Ack, reference: str, command: dict[str, Any], services: Services) -> None:
    """`/hypercare postmortem HC-42`: the draft goes to the item's thread as a file."""
    if not reference:
        ack(response_type="ephemeral", text=blocks.postmortem_usage(services.program.id_prefix))
        return
    outcome, feedback = services.rca.request_postmortem(reference, command["user_id"])
    if feedback is None or outcome is not RcaOutcome.DONE:
        ack(response_type="ephemeral", text=blocks.refusal(outcome, reference))
        return
    ack(response_type="ephemeral", text=blocks.postmortem_answer(feedback))
