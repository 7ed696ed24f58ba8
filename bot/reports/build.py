"""Build reporting: the daily digest, the weekly review, the status and readiness views, and
the closing report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.service import SilenceView
from bot.config import Program
from bot.oncall.service import OnCallService
from bot.parts import Job, Part
from bot.ports import (
    Clock,
    DigestNotifier,
    ExitReportNotifier,
    ReportNotifier,
    SatisfactionSource,
    WeeklyNotifier,
)
from bot.reports.digest import DigestService
from bot.reports.exit import ExitReportService
from bot.reports.status import StatusService
from bot.reports.weekly import WeeklyService
from storage.digest import DigestQueries
from storage.exit import ExitQueries
from storage.jobs import JobRuns
from storage.known import KnownIssueRepository
from storage.kpis import Kpis
from storage.lessons import LessonRepository
from storage.pulse import PulseRepository
from storage.rca import RootCauseRepository
from storage.repositories import OutboxRepository
from storage.weekly import WeeklyQueries


@dataclass(frozen=True)
class Reports:
    """The report services handlers call."""

    digests: DigestService
    weekly: WeeklyService
    status: StatusService
    exit_report: ExitReportService


def build_reports(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    oncall: OnCallService,
    notifier: ReportNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    silences: Callable[[], Sequence[SilenceView]],
    check_seconds: float,
) -> Part[Reports]:
    """The reports; with a digest channel, jobs that post each one when its slot comes."""
    digests = build_digests(
        program,
        sessions,
        clock,
        oncall,
        notifier=notifier,
        silences=silences,
        on_enqueued=on_enqueued,
    )
    weekly = build_weekly(program, sessions, clock, notifier=notifier, on_enqueued=on_enqueued)
    exit_report = build_exit_report(
        program,
        sessions,
        clock,
        notifier=notifier,
        on_enqueued=on_enqueued,
    )
    status = StatusService(
        program=program,
        kpis=Kpis(sessions),
        digests=digests,
        clock=clock,
        on_call=oncall.on_call_now,
        metrics=WeeklyQueries(sessions),
        satisfaction=_satisfaction(program, sessions),
    )
    jobs = []
    if program.channels.digest is not None:
        # Is a slot due? Each (job, local date) is claimed once, whoever asks.
        jobs = [
            Job("digest-daily", digests.post_due, check_seconds),
            Job("digest-weekly", weekly.post_due, check_seconds),
        ]
    return Part(
        Reports(digests, weekly, status, exit_report),
        outbox={**digests.handlers(), **weekly.handlers(), **exit_report.handlers()},
        jobs=jobs,
    )


def build_exit_report(
    program: Program,
    sessions: sessionmaker[Session],
    clock: Clock,
    *,
    notifier: ExitReportNotifier | None = None,
    on_enqueued: Callable[[], None] = lambda: None,
    satisfaction: SatisfactionSource | None = None,
) -> ExitReportService:
    """Build the closing report (also used alone by `hypercare-bot report exit`); with a
    notifier, `/hypercare exit-report` queues its upload. The user pulse's answers (when the
    program has a pulse) feed its satisfaction trend and exit criterion; `satisfaction` stands
    in for them."""
    return ExitReportService(
        program=program,
        kpis=Kpis(sessions),
        queries=WeeklyQueries(sessions),
        open_at=ExitQueries(sessions, program.id_prefix).open_at,
        known=KnownIssueRepository(sessions, program.id_prefix),
        root_causes=RootCauseRepository(sessions, program.id_prefix),
        lessons=LessonRepository(sessions, program.id_prefix),
        clock=clock,
        enqueue=OutboxRepository(sessions).enqueue if notifier is not None else None,
        notifier=notifier,
        satisfaction=satisfaction or _satisfaction(program, sessions),
        on_enqueued=on_enqueued,
    )


def build_digests(
    program: Program,
    sessions: sessionmaker[Session],
    clock: Clock,
    oncall: OnCallService,
    *,
    notifier: DigestNotifier | None = None,
    silences: Callable[[], Sequence[SilenceView]] = lambda: (),
    on_enqueued: Callable[[], None] = lambda: None,
) -> DigestService:
    """Build the digest service (also used alone by `hypercare-bot digest --dry-run`)."""
    return DigestService(
        program=program,
        queries=DigestQueries(sessions, [s.id for s in program.severities]),
        clock=clock,
        jobs=JobRuns(sessions),
        notifier=notifier,
        on_call=oncall.on_call_now,
        silences=silences,
        short_id=lambda feedback_id: f"{program.id_prefix}-{feedback_id}",
        on_enqueued=on_enqueued,
        known=KnownIssueRepository(sessions, program.id_prefix).live,
        missing_root_causes=RootCauseRepository(sessions, program.id_prefix).missing,
    )


def build_weekly(
    program: Program,
    sessions: sessionmaker[Session],
    clock: Clock,
    *,
    notifier: WeeklyNotifier | None = None,
    on_enqueued: Callable[[], None] = lambda: None,
) -> WeeklyService:
    """Build the weekly review (also used alone by `hypercare-bot digest weekly --dry-run`)."""
    return WeeklyService(
        program=program,
        kpis=Kpis(sessions),
        queries=WeeklyQueries(sessions),
        clock=clock,
        jobs=JobRuns(sessions),
        notifier=notifier,
        short_id=lambda feedback_id: f"{program.id_prefix}-{feedback_id}",
        on_enqueued=on_enqueued,
        lessons=LessonRepository(sessions, program.id_prefix),
        root_causes=RootCauseRepository(sessions, program.id_prefix),
        satisfaction=_satisfaction(program, sessions),
    )


def _satisfaction(program: Program, sessions: sessionmaker[Session]) -> PulseRepository | None:
    """The user pulse's answers, when the program asks for them (its `pulse:` section)."""
    return PulseRepository(sessions) if program.pulse is not None else None
