"""The bundle of services a listener receives (injected by name as `services`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.alerts.service import AlertService
from bot.config import Program
from bot.escalation.service import EscalationService
from bot.feedback.service import FeedbackService
from bot.oncall.service import OnCallService
from bot.ports import Notifier
from bot.reports.digest import DigestService
from bot.reports.status import StatusService
from bot.reports.weekly import WeeklyService
from bot.tickets.service import TicketService


@dataclass(frozen=True)
class Services:
    """Everything handlers may call."""

    program: Program
    feedback: FeedbackService
    notifier: Notifier
    tickets: TicketService
    alerts: AlertService | None = None
    oncall: OnCallService | None = None
    escalation: EscalationService | None = None
    digests: DigestService | None = None
    status: StatusService | None = None
    weekly: WeeklyService | None = None
