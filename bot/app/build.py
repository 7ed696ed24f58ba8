"""The composition root: builds every part of the bot from its settings and program."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.announcer import AlertAnnouncer
from bot.alerts.engine.build import build_rules
from bot.alerts.service import AlertService, SilenceView
from bot.app.bolt import build_app
from bot.app.outbox import OutboxWorker
from bot.app.runtime import HTTP_THREADS, Runtime, _serve_until
from bot.config import Program, Settings, environment
from bot.domain import Alert, Effect, ItemKind
from bot.escalation.items import Items
from bot.escalation.paging import PageSender, acknowledged_effects, reescalated_effects
from bot.escalation.service import EscalationService, start_effect
from bot.feedback.service import FeedbackAnnouncer, FeedbackService
from bot.integrations.jira import JiraTracker
from bot.integrations.prometheus import build_source
from bot.oncall.service import OnCallService
from bot.ports import Clock, DigestNotifier, WeeklyNotifier, utc_now
from bot.reports.digest import DigestService
from bot.reports.status import StatusService
from bot.reports.weekly import WeeklyService
from bot.slack.notifier import SlackNotifier, make_client
from bot.slack.pager import SlackPager
from bot.slack.reporter import SlackReporter
from bot.tickets.service import TicketService
from bot.tickets.subjects import AlertSubjects, FeedbackSubjects
from handlers.services import Services
from storage import db
from storage.alerts import AlertRepository
from storage.digest import DigestQueries
from storage.escalations import EscalationRepository
from storage.jobs import JobRuns
from storage.kpis import Kpis
from storage.leader import Leadership
from storage.oncall import OverrideRepository
from storage.repositories import FeedbackRepository, OutboxRepository
from storage.tickets import TicketRepository
from storage.weekly import WeeklyQueries

__all__ = ["HTTP_THREADS", "Runtime", "_serve_until", "build_runtime", "build_tracker"]

log = logging.getLogger(__name__)


def build_tracker(settings: Settings, program: Program) -> JiraTracker | None:
    """Build the Jira tracker when the program maps tickets and the environment has Jira."""
    if program.jira is None or not settings.jira_url:
        return None
    basic = None
    if settings.jira_email and settings.jira_api_token:
        basic = (settings.jira_email, settings.jira_api_token.get_secret_value())
    return JiraTracker(
        url=settings.jira_url,
        project=program.jira.project,
        issue_type=program.jira.issue_type,
        basic_auth=basic,
        token=settings.jira_pat.get_secret_value() if settings.jira_pat else None,
        requests_per_second=program.jira.max_requests_per_second,
        timeouts=(settings.jira_connect_timeout, settings.jira_read_timeout),
    )


def build_alerts(
    program: Program,
    alerts: AlertRepository,
    notifier: SlackNotifier,
    tickets: TicketService,
    clock: Clock,
    on_enqueued: Callable[[], None],
    escalation: EscalationService | None = None,
) -> AlertService | None:
    """Build gateway alerting when the program has a `metrics:` section."""
    metrics = program.metrics
    if metrics is None:
        return None
    auto = {r.id for r in metrics.rules if r.auto_ticket}

    def on_fired(alert: Alert) -> list[Effect]:
        effects = tickets.on_alert_fired(alert.id, alert.rule_id in auto)
        if escalation is not None and escalation.policy_for(alert.severity):
            effects.append(start_effect(ItemKind.ALERT, alert.id))
        return effects

    sources = {s.id: build_source(s, metrics.allowed_hosts, environment()) for s in metrics.sources}
    return AlertService(
        repo=alerts,
        sources=sources,
        rules=build_rules(metrics, program.channels.alerts),
        notifier=notifier,
        clock=clock,
        notice_channel=program.channels.alerts,
        failures_before_down=metrics.failures_before_down,
        on_enqueued=on_enqueued,
        on_fired=on_fired,
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
    )


def build_runtime(settings: Settings, program: Program, clock: Clock = utc_now) -> Runtime:
    """Wire every part of the bot from its settings and program."""
    assert settings.slack_bot_token is not None
    engine = db.make_engine(settings.database_url)
    sessions = db.make_sessions(engine)
    client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    notifier = SlackNotifier(client, program)
    feedback_repo = FeedbackRepository(sessions, program.id_prefix)
    wake = threading.Event()
    tracker = build_tracker(settings, program)
    alert_repo = AlertRepository(sessions)
    ticket_repo = TicketRepository(sessions, program.id_prefix)
    tickets = TicketService(
        subjects=[
            FeedbackSubjects(feedback_repo, ticket_repo, program),
            AlertSubjects(alert_repo, program),
        ],
        feedback=feedback_repo,
        tickets=ticket_repo,
        tracker=tracker,
        notifier=notifier,
        program=program,
        clock=clock,
        on_enqueued=wake.set,
    )
    announcer = FeedbackAnnouncer(repo=feedback_repo, notifier=notifier, clock=clock)
    handlers = {**announcer.handlers(), **tickets.handlers()}
    worker = OutboxWorker(
        repo=OutboxRepository(sessions),
        handlers=handlers,
        clock=clock,
        wake=wake,
        lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
        slow_kinds=tickets.create_kinds,
    )
    pager = SlackPager(client)
    oncall = OnCallService(
        program=program,
        clock=clock,
        jobs=JobRuns(sessions),
        notifier=notifier,
        on_enqueued=wake.set,
        overrides=OverrideRepository(sessions),
        user_for_email=pager.user_for_email,
    )
    handlers.update(oncall.handlers())
    escalations = EscalationRepository(sessions)
    escalation = EscalationService(
        program=program,
        repo=escalations,
        items=Items(feedback_repo, alert_repo),
        clock=clock,
        on_call_ids=oncall.on_call_ids,
        on_enqueued=wake.set,
        acknowledged_effects=acknowledged_effects,
        reescalated_effects=reescalated_effects,
    )
    sender = PageSender(
        program=program,
        service=escalation,
        repo=escalations,
        pager=pager,
        clock=clock,
        on_call=oncall.on_call_now,
    )
    handlers.update(sender.handlers())
    alerts = build_alerts(program, alert_repo, notifier, tickets, clock, wake.set, escalation)
    if alerts is not None:
        alert_announcer = AlertAnnouncer(
            repo=alert_repo, notifier=notifier, silenced_until=alerts.silenced_until
        )
        handlers.update(alert_announcer.handlers())

    def follow_ups(severity: str) -> list[Effect]:
        return [
            *tickets.on_submit(severity),
            *escalation.effects_for_new(ItemKind.FEEDBACK, severity),
        ]

    feedback = FeedbackService(
        repo=feedback_repo,
        program=program,
        clock=clock,
        on_enqueued=wake.set,
        follow_ups=follow_ups,
    )
    services = Services(
        program=program,
        feedback=feedback,
        notifier=notifier,
        tickets=tickets,
        alerts=alerts,
        oncall=oncall,
        escalation=escalation,
    )
    digests = build_digests(
        program,
        sessions,
        clock,
        oncall,
        notifier=SlackReporter(client, program),
        silences=alerts.silences if alerts is not None else (lambda: ()),
        on_enqueued=wake.set,
    )
    handlers.update(digests.handlers())
    status = StatusService(
        program=program,
        kpis=Kpis(sessions),
        digests=digests,
        clock=clock,
        on_call=oncall.on_call_now,
        metrics=WeeklyQueries(sessions),
    )
    weekly = build_weekly(
        program, sessions, clock, notifier=SlackReporter(client, program), on_enqueued=wake.set
    )
    handlers.update(weekly.handlers())
    services = replace(services, digests=digests, status=status, weekly=weekly)
    secret = settings.slack_signing_secret
    app = build_app(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        services=services,
    )
    return Runtime(settings, program, engine, client, app, services, worker, Leadership(engine))
