"""Build the root-cause capability: the service and the announcer of its prompts, notes and
post-mortem uploads."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.parts import Part
from bot.ports import Clock, RcaNotifier
from bot.rca.service import CommentEffects, RcaAnnouncer, RcaService
from storage.rca import RootCauseRepository
from storage.repositories import FeedbackRepository, OutboxRepository


def build_rca(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    feedback: FeedbackRepository,
    notifier: RcaNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    ticket_comment: CommentEffects,
) -> Part[RcaService]:
    """Root causes and post-mortems; `ticket_comment` puts a root cause on the Jira ticket."""
    service = RcaService(
        repo=RootCauseRepository(sessions, program.id_prefix),
        feedback=feedback,
        program=program,
        clock=clock,
        enqueue=OutboxRepository(sessions).enqueue,
        ticket_comment=ticket_comment,
        on_enqueued=on_enqueued,
    )
    announcer = RcaAnnouncer(service=service, feedback=feedback, notifier=notifier)
    return Part(service, outbox=announcer.handlers())
