"""Ticket listeners: a lead's "Create Jira ticket" button, and `/hypercare ticket HC-42`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import ItemKind
from bot.slack.blocks import tickets as ticket_blocks
from bot.tickets.service import RequestOutcome
from handlers import forms
from handlers.services import Services


def create_ticket(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Queue a Jira ticket for the receipt's feedback, if the user is a lead."""
    ack()
    feedback_id = forms.numeric_id(action)
    user = body["user"]["id"]
    outcome = (
        services.tickets.request(ItemKind.FEEDBACK, feedback_id, user)
        if feedback_id is not None
        else RequestOutcome.UNKNOWN
    )
    if outcome is not RequestOutcome.QUEUED:
        text = ticket_blocks.request_refusal(outcome, services.program.roles.leads)
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=text)


def show_ticket(ack: Ack, reference: str, services: Services) -> None:
    """Show one item's state and ticket, only to the asker."""
    feedback = services.tickets.lookup(reference)
    if feedback is None:
        ack(response_type="ephemeral", text=ticket_blocks.not_found(reference))
        return
    severity = services.program.severity(feedback.severity).label
    text, rendered = ticket_blocks.status_blocks(feedback, severity)
    ack(response_type="ephemeral", text=text, blocks=rendered)
