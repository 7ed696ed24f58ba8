"""Build the ticket capability: the service, its Jira status poll and duplicate reconciliation,
its webhook, its start check."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence

from bot.config import Program
from bot.domain import Effect, Feedback
from bot.errors import DeliveryError
from bot.parts import Job, Part, WSGIApp
from bot.ports import Clock, Directory, Notifier, TicketTracker
from bot.tickets import webhook
from bot.tickets.service import TicketService
from bot.tickets.subjects import AlertSubjects, FeedbackSubjects
from storage.alerts import AlertRepository
from storage.owners import OwnerRepository
from storage.repositories import FeedbackRepository
from storage.tickets import TicketRepository

log = logging.getLogger(__name__)

# The reconciliation reads a day of issues: every tenth poll is often enough, since the poll
# itself heals the duplicates it sees (a late issue is "updated" when it appears).
RECONCILE_EVERY = 10


def build_tickets(
    *,
    program: Program,
    feedback: FeedbackRepository,
    alerts: AlertRepository,
    tickets: TicketRepository,
    tracker: TicketTracker | None,
    notifier: Notifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    webhook_secret: str | None,
    owners: OwnerRepository | None = None,
    directory: Directory | None = None,
    on_resolved: Callable[[Feedback], Sequence[Effect]] = lambda f: (),
) -> Part[TicketService]:
    """One ticket service for feedback and alert incidents; Jira jobs only when Jira is on.
    The poll also carries Jira assignees to the items' owners (`owners`, `directory`), and
    `on_resolved` follows an item that Jira resolved."""
    service = TicketService(
        subjects=[FeedbackSubjects(feedback, tickets, program), AlertSubjects(alerts, program)],
        feedback=feedback,
        tickets=tickets,
        tracker=tracker,
        notifier=notifier,
        program=program,
        clock=clock,
        on_enqueued=on_enqueued,
        owners=owners,
        directory=directory,
        on_resolved=on_resolved,
    )
    if not service.enabled or program.jira is None:
        return Part(service, outbox=service.handlers(), slow_kinds=service.jira_kinds)
    interval = program.jira.poll_interval
    # Overlapping windows: a poll that failed or ran late is covered by the next one.
    window = math.ceil(3 * interval / 60) + 1
    routes: dict[str, WSGIApp] = {}
    if webhook_secret is not None:
        routes[webhook.PATH] = webhook.JiraWebhook(webhook_secret, service)
    return Part(
        service,
        outbox=service.handlers(),
        slow_kinds=service.jira_kinds,
        jobs=[
            Job("jira-sync", functools.partial(_sync, service, window), interval),
            Job(
                "jira-reconcile",
                functools.partial(_reconcile, service, program.jira.reconcile_window // 60),
                RECONCILE_EVERY * interval,
            ),
        ],
        routes=routes,
        at_start=[functools.partial(_check_mapping, service)],
    )


def _sync(service: TicketService, window: int) -> None:
    try:
        changed = service.sync(window)
    except DeliveryError as error:
        log.warning("Jira status poll failed: %s", error)
        return
    if changed:
        log.info("Jira poll: %s ticket(s) changed status", changed)


def _reconcile(service: TicketService, window: int) -> None:
    try:
        healed = service.reconcile(window)
    except DeliveryError as error:
        log.warning("Jira duplicate reconciliation failed: %s", error)
        return
    if healed:
        log.info("Jira reconciliation: %s item(s) had duplicate issues", healed)


def _check_mapping(service: TicketService) -> None:
    """Say at start, in the log, which part of the Jira mapping Jira would refuse."""
    try:
        problems = service.check_mapping()
    except DeliveryError as error:
        log.warning("Jira mapping not checked at start (tickets wait in the outbox): %s", error)
        return
    for problem in problems:
        log.error("Jira mapping problem: %s", problem)
