"""Owner listeners: *Take it* and a lead's *Resolve* on a receipt, `/hypercare assign`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import OwnerOutcome, OwnerResult
from bot.slack.blocks import owners as blocks
from handlers import forms
from handlers.services import Services


def _answer(
    body: dict[str, Any], client: WebClient, services: Services, result: OwnerResult
) -> None:
    if result.outcome is OwnerOutcome.DONE:
        return  # the receipt and the thread say it to everyone
    text = blocks.owner_answer(result, "", services.program.roles.leads)
    client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text=text)


def take_item(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Take it*: the presser owns the item now."""
    ack()
    feedback_id = forms.numeric_id(action)
    result = (
        services.owners.take(feedback_id, body["user"]["id"])
        if feedback_id is not None
        else OwnerResult(OwnerOutcome.UNKNOWN)
    )
    _answer(body, client, services, result)


def resolve_item(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Resolve*: a lead closes the item from Slack."""
    ack()
    feedback_id = forms.numeric_id(action)
    result = (
        services.owners.resolve(feedback_id, body["user"]["id"])
        if feedback_id is not None
        else OwnerResult(OwnerOutcome.UNKNOWN)
    )
    _answer(body, client, services, result)


def assign(
    ack: Ack, parsed: tuple[str, str | None], command: dict[str, Any], services: Services
) -> None:
    """`/hypercare assign HC-42 @someone`: a lead gives an item an owner."""
    reference, owner = parsed
    if owner is None:
        ack(response_type="ephemeral", text=blocks.assign_usage(services.program.id_prefix))
        return
    result = services.owners.assign(reference, owner, command["user_id"])
    text = blocks.owner_answer(result, reference, services.program.roles.leads)
    ack(response_type="ephemeral", text=text)
