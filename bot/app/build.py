"""The composition root: builds every part of the bot from its settings and program.

Read `build_runtime` top to bottom for what the bot runs: the adapters to the outside (Slack,
Jira, the gateway's metrics), then one part per capability, each with its own jobs and outbox
handlers, then the Slack app that routes listeners to the services, then the runtime that
starts it all.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from bot.alerts.build import build_alerts
from bot.app.bolt import build_app
from bot.app.outbox import OutboxWorker
from bot.app.runtime import HTTP_CONNECTION_LIMIT, HTTP_THREADS, Runtime, _serve_until
from bot.config import Program, Settings, environment
from bot.domain import Alert, Effect, Feedback, ItemKind, TicketComment
from bot.escalation.build import build_escalation
from bot.escalation.items import Items
from bot.feedback.build import build_feedback, build_intake
from bot.integrations.jira import JiraTracker
from bot.integrations.prometheus import build_source
from bot.lessons.build import build_lessons
from bot.oncall.build import build_oncall
from bot.owners.build import build_owners
from bot.parts import BatchHandler, OutboxHandler, Part
from bot.ports import Clock, MetricSource, utc_now
from bot.pulse.build import build_pulse
from bot.rca.build import build_rca
from bot.reports.build import build_reports
from bot.slack.client import make_client
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import SlackNotifier
from bot.slack.pager import SlackPager
from bot.slack.pulse import SlackPulse
from bot.slack.reporter import SlackReporter
from bot.tickets.build import build_tickets
from bot.tickets.service import comment_effect, link_effect
from bot.tickets.subjects import assign_effect
from handlers.services import Services
from storage import db
from storage.alerts import AlertRepository
from storage.leader import Leadership
from storage.owners import OwnerRepository
from storage.repositories import FeedbackRepository, OutboxRepository
from storage.tickets import TicketRepository

__all__ = [
    "HTTP_CONNECTION_LIMIT",
    "HTTP_THREADS",
    "Runtime",
    "_serve_until",
    "build_runtime",
    "build_tracker",
]


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


def build_runtime(settings: Settings, program: Program, clock: Clock = utc_now) -> Runtime:
    """Wire every part of the bot from its settings and program (nothing runs until start)."""
    assert settings.slack_bot_token is not None
    # The outside world: the database, Slack (one pooled client), Jira, the gateway's metrics.
    engine = db.make_engine(settings.database_url)
    sessions = db.make_sessions(engine)
    client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    notifier = SlackNotifier(client, program)
    directory = SlackDirectory(client)  # one cache of people by e-mail, for pages and owners
    pager = SlackPager(client, directory)
    tracker = build_tracker(settings, program)
    sources: dict[str, MetricSource] = {}
    if program.metrics is not None:
        allowed = program.metrics.allowed_hosts
        sources = {s.id: build_source(s, allowed, environment()) for s in program.metrics.sources}
    # What several capabilities share: the items themselves, and the outbox's wake-up call.
    feedback_repo = FeedbackRepository(sessions, program.id_prefix)
    alert_repo = AlertRepository(sessions)
    wake = threading.Event()

    # One part per capability. A new report or a fired alert may open a ticket and start an
    # escalation: the follow-ups below are where capabilities meet.
    hook_secret = settings.jira_webhook_secret

    def resolved_follow_ups(feedback: Feedback) -> list[Effect]:
        return rca.service.on_resolved(feedback)  # an urgent item asks for its root cause

    tickets = build_tickets(
        program=program,
        feedback=feedback_repo,
        alerts=alert_repo,
        tickets=TicketRepository(sessions, program.id_prefix),
        tracker=tracker,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        webhook_secret=hook_secret.get_secret_value() if hook_secret else None,
        owners=OwnerRepository(sessions, program.id_prefix),
        directory=directory,
        on_resolved=resolved_follow_ups,
    )
    oncall = build_oncall(
        program=program,
        sessions=sessions,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        user_for_email=pager.user_for_email,
    )
    escalation = build_escalation(
        program=program,
        sessions=sessions,
        items=Items(feedback_repo, alert_repo),
        pager=pager,
        oncall=oncall.service,
        clock=clock,
        on_enqueued=wake.set,
        tick_seconds=settings.escalation_tick_seconds,
    )

    def report_follow_ups(severity: str) -> list[Effect]:
        return [
            *tickets.service.on_submit(severity),
            *escalation.service.effects_for_new(ItemKind.FEEDBACK, severity),
        ]

    def alert_follow_ups(alert: Alert, opens_ticket: bool) -> list[Effect]:
        return [
            *tickets.service.on_alert_fired(alert.id, opens_ticket),
            *escalation.service.effects_for_new(ItemKind.ALERT, alert.severity, alert.id),
        ]

    feedback = build_feedback(
        program=program,
        repo=feedback_repo,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        follow_ups=report_follow_ups,
    )

    def ticket_comment(feedback_id: int, comment: TicketComment) -> list[Effect]:
        return [comment_effect(feedback_id, comment)] if tickets.service.enabled else []

    def ticket_link(duplicate_id: int, original_id: int) -> list[Effect]:
        return [link_effect(duplicate_id, original_id)] if tickets.service.enabled else []

    intake = build_intake(
        program=program,
        sessions=sessions,
        feedback=feedback_repo,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        ticket_comment=ticket_comment,
        ticket_link=ticket_link,
    )

    def ticket_assign(feedback_id: int, owner: str) -> list[Effect]:
        return [assign_effect(feedback_id, owner)] if tickets.service.enabled else []

    owners = build_owners(
        program=program,
        sessions=sessions,
        feedback=feedback_repo,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        ticket_assign=ticket_assign,
        on_resolved=resolved_follow_ups,
        directory=directory,
    )
    rca = build_rca(
        program=program,
        sessions=sessions,
        feedback=feedback_repo,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        ticket_comment=ticket_comment,
    )
    lessons = build_lessons(program=program, sessions=sessions, clock=clock)
    pulse = build_pulse(
        program=program,
        sessions=sessions,
        notifier=SlackPulse(client),
        clock=clock,
        on_enqueued=wake.set,
        check_seconds=settings.digest_check_seconds,
    )
    alerts = build_alerts(
        program=program,
        repo=alert_repo,
        sources=sources,
        notifier=notifier,
        clock=clock,
        on_enqueued=wake.set,
        on_fired=alert_follow_ups,
    )
    reports = build_reports(
        program=program,
        sessions=sessions,
        oncall=oncall.service,
        notifier=SlackReporter(client, program),
        clock=clock,
        on_enqueued=wake.set,
        silences=alerts.service.silences if alerts is not None else (lambda: ()),
        check_seconds=settings.digest_check_seconds,
    )
    parts: list[Part[Any]] = [
        feedback,
        intake,
        tickets,
        owners,
        rca,
        lessons,
        pulse,
        oncall,
        escalation,
        reports,
    ]
    if alerts is not None:
        parts.append(alerts)

    # Every side effect runs through one outbox worker; Slack listeners reach the services.
    handlers, batch_handlers = _outbox_handlers(parts)
    worker = OutboxWorker(
        repo=OutboxRepository(sessions),
        handlers=handlers,
        batch_handlers=batch_handlers,
        clock=clock,
        wake=wake,
        lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
        slow_kinds=frozenset().union(*(p.slow_kinds for p in parts)),
        bulk_kinds=frozenset().union(*(p.bulk_kinds for p in parts)),
        first_kinds=frozenset().union(*(p.first_kinds for p in parts)),
        concurrency=settings.outbox_concurrency or _default_concurrency(engine),
    )
    services = Services(
        program=program,
        notifier=notifier,
        feedback=feedback.service,
        tickets=tickets.service,
        oncall=oncall.service,
        escalation=escalation.service,
        digests=reports.service.digests,
        weekly=reports.service.weekly,
        status=reports.service.status,
        exit_report=reports.service.exit_report,
        alerts=alerts.service if alerts is not None else None,
        intake=intake.service,
        owners=owners.service,
        rca=rca.service,
        lessons=lessons.service,
        pulse=pulse.service,
    )
    secret = settings.slack_signing_secret
    app = build_app(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        services=services,
    )
    return Runtime(
        settings, program, engine, client, app, services, worker, Leadership(engine), parts
    )


def _default_concurrency(engine: Engine) -> int:
    """Side effects in flight at once when the settings leave it to the database."""
    return 8 if engine.dialect.name == "postgresql" else 2


def _outbox_handlers(
    parts: Sequence[Part[Any]],
) -> tuple[dict[str, OutboxHandler], dict[str, BatchHandler]]:
    """Every part's outbox handlers in two tables (row by row, and a batch at a time); a kind
    claimed twice is a wiring mistake."""
    handlers: dict[str, OutboxHandler] = {}
    batch: dict[str, BatchHandler] = {}
    for part in parts:
        for kind in [*part.outbox, *part.batch_outbox]:
            if kind in handlers or kind in batch:
                raise ValueError(f"outbox kind {kind!r} has two handlers")
            if kind in part.outbox:
                handlers[kind] = part.outbox[kind]
            else:
                batch[kind] = part.batch_outbox[kind]
    return handlers, batch
