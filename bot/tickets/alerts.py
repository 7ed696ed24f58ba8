"""Jira tickets for gateway alerts: on a lead's button, or automatically for some rules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.alerts.service import NOTE, REFRESH, value_text
from bot.config import Program
from bot.domain import Alert, Effect, TicketDraft
from bot.errors import DeliveryRefused
from bot.ports import Clock
from bot.tickets.service import HYPERCARE_LABEL, RequestOutcome, TicketTracker
from storage.alerts import AlertRepository

log = logging.getLogger(__name__)

CREATE = "ticket.create_alert"


def alert_label(alert: Alert) -> str:
    """The idempotency label of an alert's Jira issue, searched before every create."""
    return f"hypercare-alert-{alert.id}"


def alert_draft(alert: Alert, program: Program) -> TicketDraft:
    """Describe the ticket an alert becomes."""
    severity = next((s for s in program.severities if s.id == alert.severity), None)
    scope = ", ".join(f"{k}={v}" for k, v in alert.scope) or "all traffic"
    facts = (
        ("Alert rule", alert.rule_id),
        ("Severity", severity.label if severity else alert.severity),
        ("Scope", scope),
        ("Value when it fired", value_text(alert.value, alert.unit)),
        ("Threshold", value_text(alert.threshold, alert.unit)),
        ("Metrics source", alert.source_id),
        ("Breaching since", f"{alert.since:%Y-%m-%d %H:%M} UTC"),
    )
    return TicketDraft(
        idempotency_label=alert_label(alert),
        summary=f"[alert] {alert.rule_id} firing on {scope}",
        facts=facts,
        details=(),
        links=(),
        priority=severity.jira_priority if severity else None,
        labels=(HYPERCARE_LABEL, "alert", f"severity-{alert.severity}", f"rule-{alert.rule_id}"),
        components=(),
        extra_fields=tuple((program.jira.fields if program.jira else {}).items()),
    )


def create_effect(alert_id: int, tag: str) -> Effect:
    """Queue the creation of an alert's ticket."""
    return Effect(CREATE, {"alert_id": alert_id}, f"{CREATE}:{alert_id}:{tag}")


class AlertTicketService:
    """Opens one Jira issue per alert, exactly once, and links it from the alert's thread."""

    def __init__(
        self,
        *,
        alerts: AlertRepository,
        tracker: TicketTracker | None,
        program: Program,
        clock: Clock,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._alerts = alerts
        self._tracker = tracker
        self._program = program
        self._clock = clock
        self._on_enqueued = on_enqueued

    @property
    def enabled(self) -> bool:
        """Tell whether Jira is connected."""
        return self._tracker is not None and self._program.jira is not None

    def request(self, alert_id: int, actor: str) -> RequestOutcome:
        """Queue a ticket for an alert at a lead's request."""
        if not self.enabled:
            return RequestOutcome.DISABLED
        if not self._program.is_lead(actor):
            return RequestOutcome.NOT_ALLOWED
        alert = self._alerts.get(alert_id)
        if alert is None:
            return RequestOutcome.UNKNOWN
        if alert.ticket_key:
            return RequestOutcome.ALREADY
        now = self._clock()
        self._alerts.queue([create_effect(alert.id, f"{actor}:{now:%Y%m%dT%H%M%S%f}")], now)
        self._on_enqueued()
        return RequestOutcome.QUEUED

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {CREATE: self.create}

    def create(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Adopt the alert's issue if Jira has it, else open it; then link it in Slack."""
        alert_id = payload.get("alert_id")
        alert = self._alerts.get(alert_id) if isinstance(alert_id, int) else None
        if alert is None:
            raise DeliveryRefused(f"alert {alert_id!r} does not exist")
        if alert.ticket_key or self._tracker is None:
            return []
        label = alert_label(alert)
        ticket = self._tracker.find(label) or self._tracker.create(
            alert_draft(alert, self._program)
        )
        now = self._clock()
        tag = f"{alert.id}:ticket:{ticket.key}"
        note: dict[str, object] = {
            "alert_id": alert.id,
            "kind": "ticketed",
            "by": ticket.key,
            "until": None,
            "reason": ticket.url,
        }
        self._alerts.record_ticket(
            alert.id,
            ticket.key,
            ticket.url,
            now,
            lambda a: [
                Effect(NOTE, note, f"{NOTE}:{tag}"),
                Effect(REFRESH, {"alert_id": a.id}, f"{REFRESH}:{tag}"),
            ],
        )
        log.info("Jira issue %s linked to alert %s", ticket.key, alert.id)
        return []
