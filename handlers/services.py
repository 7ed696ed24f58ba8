"""The bundle of services a listener receives (injected by name as `services`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.alerts.service import AlertService
from bot.config import Program
from bot.escalation.service import EscalationService
from bot.feedback.build import Intake
from bot.feedback.service import FeedbackService
from bot.lessons.service import LessonService
from bot.oncall.service import OnCallService
from bot.owners.service import OwnerService
from bot.ports import Notifier
from bot.pulse.service import PulseService
from bot.rca.service import RcaService
from bot.reports.digest import DigestService
from bot.reports.exit import ExitReportService
from bot.reports.status import StatusService
from bot.reports.weekly import WeeklyService
from bot.tickets.service import TicketService


@dataclass(frozen=True)
class Services:
    """Everything handlers may call, built once by the composition root."""

    program: Program
    notifier: Notifier
    feedback: FeedbackService
    tickets: TicketService
    oncall: OnCallService
    escalation: EscalationService
    digests: DigestService
    weekly: WeeklyService
    status: StatusService
    exit_report: ExitReportService
    alerts: AlertService | None  # None when the program has no `metrics:` section
    intake: Intake
    owners: OwnerService
    rca: RcaService
    lessons: LessonService
    pulse: PulseService
