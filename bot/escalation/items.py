"""The items that escalate, seen the same way whether they are feedback or alerts."""

from __future__ import annotations

from collections.abc import Collection

from bot.domain import (
    Alert,
    EscalatingItem,
    FeedbackHead,
    FeedbackState,
    ItemKind,
    ItemRef,
)
from storage.alerts import AlertRepository
from storage.repositories import FeedbackRepository


def feedback_item(feedback: FeedbackHead) -> EscalatingItem:
    """Feedback as an escalating item: its receipt is its thread."""
    resolved = feedback.resolved_at if feedback.state is FeedbackState.RESOLVED else None
    return EscalatingItem(
        ref=ItemRef(ItemKind.FEEDBACK, feedback.id),
        severity=feedback.severity,
        title=f"{feedback.short_id} · {feedback.summary}",
        channel_id=feedback.channel_id,
        thread_ts=feedback.receipt_ts,
        link=feedback.receipt_permalink,
        started_at=feedback.created_at,
        resolved_at=resolved,
    )


def alert_item(alert: Alert) -> EscalatingItem:
    """An alert as an escalating item: its message is its thread."""
    scope = ", ".join(f"{key}={value}" for key, value in alert.scope) or "all traffic"
    return EscalatingItem(
        ref=ItemRef(ItemKind.ALERT, alert.id),
        severity=alert.severity,
        title=f"Alert {alert.rule_id} on {scope}",
        channel_id=alert.channel_id,
        thread_ts=alert.message_ts,
        link=None,
        started_at=alert.fired_at,
        resolved_at=alert.resolved_at if alert.state == "resolved" else None,
    )


class Items:
    """Loads escalating items from where they are stored."""

    def __init__(self, feedback: FeedbackRepository, alerts: AlertRepository) -> None:
        self._feedback = feedback
        self._alerts = alerts

    def get_many(self, refs: Collection[ItemRef]) -> dict[ItemRef, EscalatingItem]:
        """The items that exist among `refs`: one query per kind, whatever their number."""
        feedback = [ref.id for ref in refs if ref.kind is ItemKind.FEEDBACK]
        alerts = [ref.id for ref in refs if ref.kind is ItemKind.ALERT]
        found: dict[ItemRef, EscalatingItem] = {}
        if feedback:
            for feedback_id, row in self._feedback.heads(feedback).items():
                found[ItemRef(ItemKind.FEEDBACK, feedback_id)] = feedback_item(row)
        if alerts:
            for alert_id, alert in self._alerts.get_many(alerts).items():
                found[ItemRef(ItemKind.ALERT, alert_id)] = alert_item(alert)
        return found

    def get(self, ref: ItemRef) -> EscalatingItem | None:
        """The item, or None when it does not exist."""
        return self.get_many([ref]).get(ref)
