"""Alert listeners: Acknowledge, Silence (a lead's modal), ending silences, and the commands."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import ItemKind, ItemRef
from bot.slack.blocks import alerts as alert_blocks
from bot.slack.blocks import tickets as ticket_blocks
from bot.tickets.service import RequestOutcome
from handlers import escalation, forms
from handlers.services import Services


def acknowledge_alert(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Record who acknowledged an alert (stopping its escalation); updates go via the outbox."""
    ack()
    alert_id = forms.numeric_id(action)
    if services.alerts is None or alert_id is None:
        return
    user = body["user"]["id"]
    refusal = escalation.acknowledge(services, ItemRef(ItemKind.ALERT, alert_id), user)
    if refusal:
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=refusal)


def open_silence_modal(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Open the silence form for a lead; tell anyone else who can silence."""
    ack()
    user, alert_id = body["user"]["id"], forms.numeric_id(action)
    alerts = services.alerts
    alert = alerts.alert(alert_id) if alerts is not None and alert_id is not None else None
    if alerts is None or alert is None:
        return
    if not services.program.is_lead(user):
        text = alert_blocks.leads_only(services.program.roles.leads)
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=text)
        return
    view = alert_blocks.silence_modal(alert, services.program.zone, alerts.now())
    client.views_open(trigger_id=body["trigger_id"], view=view)


def submit_silence(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Silence the alert's rule and scope until the chosen time, with the reason given."""
    user = body["user"]["id"]
    choice, reason, alert_id = forms.silence_from_view(view)
    problems = forms.silence_problems(choice, reason, services.program.is_lead(user))
    if problems or services.alerts is None or alert_id is None:
        ack(response_action="errors", errors=problems or {"reason": "This alert is gone."})
        return
    services.alerts.silence_for(alert_id, choice, services.program.zone, user, reason)
    ack()


def end_silence(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """End a rule's silences early (leads only)."""
    ack()
    user = body["user"]["id"]
    if services.alerts is None or not services.program.is_lead(user):
        text = alert_blocks.leads_only(services.program.roles.leads)
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=text)
        return
    ended = services.alerts.end_silence(str(action.get("value") or ""), None, user)
    client.chat_postEphemeral(
        channel=body["channel"]["id"], user=user, text=f"Ended {ended} silence(s)."
    )


def create_alert_ticket(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Queue a Jira ticket for an alert, if the user is a lead."""
    ack()
    alert_id, user = forms.numeric_id(action), body["user"]["id"]
    if alert_id is None:
        return
    outcome = services.tickets.request(ItemKind.ALERT, alert_id, user)
    if outcome is not RequestOutcome.QUEUED:
        text = ticket_blocks.request_refusal(outcome, services.program.roles.leads)
        client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=text)


def show_metrics(ack: Ack, services: Services) -> None:
    """Show each source's state and each rule's current value, privately."""
    text, rendered = alert_blocks.metrics_status(
        services.alerts.status() if services.alerts else None
    )
    ack(response_type="ephemeral", text=text, blocks=rendered)


def show_silences(ack: Ack, services: Services) -> None:
    """List the silences in force, with an End button for leads."""
    text, rendered = alert_blocks.silences_list(
        services.alerts.silences() if services.alerts else None
    )
    ack(response_type="ephemeral", text=text, blocks=rendered)
