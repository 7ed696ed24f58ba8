"""Build the owners capability: the service and the announcer of its notes."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.owners.service import OwnerAnnouncer, OwnerService, ResolvedFollowUps, TicketAssign
from bot.parts import Part
from bot.ports import Clock, Directory, Notifier
from storage.owners import OwnerRepository
from storage.repositories import FeedbackRepository


def build_owners(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    feedback: FeedbackRepository,
    notifier: Notifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    ticket_assign: TicketAssign,
    on_resolved: ResolvedFollowUps,
    directory: Directory,
) -> Part[OwnerService]:
    """Owners; `ticket_assign` assigns tickets in Jira, `on_resolved` follows a resolution."""
    service = OwnerService(
        repo=OwnerRepository(sessions, program.id_prefix),
        program=program,
        clock=clock,
        ticket_assign=ticket_assign,
        on_resolved=on_resolved,
        directory=directory,
        on_enqueued=on_enqueued,
    )
    announcer = OwnerAnnouncer(feedback=feedback, notifier=notifier)
    return Part(service, outbox=announcer.handlers())
