"""Escalation listeners: Acknowledge (page, receipt, alert), `escalate` and `override`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import ItemKind, ItemRef
from bot.escalation.model import AckOutcome, EscalateOutcome
from bot.oncall.overrides import OverrideSyntaxError, parse_override
from bot.slack.blocks import escalation as escalation_blocks
from bot.slack.blocks import oncall as oncall_blocks
from handlers.services import Services


def acknowledge(services: Services, ref: ItemRef, user: str) -> str | None:
    """Acknowledge an item (and its alert); return why not, for the user, or None."""
    outcome = services.escalation.acknowledge(ref, user)
    if outcome is AckOutcome.NOT_ALLOWED:
        return escalation_blocks.ACK_TEXT[outcome.value]
    if ref.kind is ItemKind.ALERT and services.alerts is not None:
        if services.alerts.acknowledge(ref.id, user) is None:
            return escalation_blocks.ACK_TEXT["already"]
        return None
    return None if outcome is AckOutcome.ACKNOWLEDGED else escalation_blocks.ACK_TEXT[outcome]


def acknowledge_item(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The Acknowledge button of a page DM or a receipt: stop the climb, or say why not."""
    ack()
    ref = ItemRef.parse(action.get("value"))
    if ref is None:
        return
    refusal = acknowledge(services, ref, body["user"]["id"])
    if refusal:
        client.chat_postEphemeral(
            channel=body["channel"]["id"], user=body["user"]["id"], text=refusal
        )


def acknowledge_group(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Acknowledge all* on a grouped page DM: take every item on it the presser may take."""
    ack()
    raw = str(action.get("value") or "")
    if not (raw.isascii() and raw.isdigit()):
        return
    user = body["user"]["id"]
    refusals = [
        r
        for ref in services.escalation.group_items(int(raw))
        if (r := acknowledge(services, ref, user))
    ]
    not_allowed = escalation_blocks.ACK_TEXT[AckOutcome.NOT_ALLOWED.value]
    if not_allowed in refusals:
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=not_allowed)


def reescalate(ack: Ack, reference: str, command: dict[str, Any], services: Services) -> None:
    """`/hypercare escalate HC-12`: a lead restarts an item's climb."""
    feedback = services.tickets.lookup(reference)
    if feedback is None:
        outcome = EscalateOutcome.UNKNOWN_ITEM
    else:
        ref = ItemRef(ItemKind.FEEDBACK, feedback.id)
        outcome = services.escalation.reescalate(ref, command["user_id"])
    ack(response_type="ephemeral", text=escalation_blocks.ESCALATE_TEXT[outcome])


def override(ack: Ack, text: str, command: dict[str, Any], services: Services) -> None:
    """`/hypercare override @person until 18:00 [on secondary]`: admins only, audited."""
    oncall, program = services.oncall, services.program
    if program.oncall is None:
        ack(response_type="ephemeral", text=oncall_blocks.NO_ROTAS)
        return
    rotas = tuple(rota.id for rota in program.oncall.rotas)
    try:
        request = parse_override(
            text, program.zone, oncall.current_time(), rotas, program.oncall.primary
        )
    except OverrideSyntaxError as error:
        ack(response_type="ephemeral", text=str(error))
        return
    outcome = oncall.add_override(request, command["user_id"])
    ack(
        response_type="ephemeral",
        text=oncall_blocks.override_answer(outcome, request, program.roles.admins),
    )
