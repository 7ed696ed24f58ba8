"""Build intake: the feedback service and the announcer that posts receipts and replies; then
smarter intake (suggestions in the form, +1s and merges, known issues)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.domain import Effect
from bot.feedback.duplicates import (
    CommentEffects,
    DuplicateAnnouncer,
    DuplicateService,
    LinkEffects,
)
from bot.feedback.known import KnownIssueAnnouncer, KnownIssueService
from bot.feedback.priority import PriorityService
from bot.feedback.service import FeedbackAnnouncer, FeedbackService
from bot.feedback.suggestions import SuggestionService
from bot.parts import Part
from bot.ports import Clock, IntakeNotifier, Notifier
from storage.intake import IntakeRepository
from storage.known import KnownIssueRepository
from storage.repositories import FeedbackRepository


def build_feedback(
    *,
    program: Program,
    repo: FeedbackRepository,
    notifier: Notifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    follow_ups: Callable[[str], Sequence[Effect]],
) -> Part[FeedbackService]:
    """Intake; `follow_ups(severity)` are queued with each new report (a ticket, a page)."""
    service = FeedbackService(
        repo=repo, program=program, clock=clock, on_enqueued=on_enqueued, follow_ups=follow_ups
    )
    announcer = FeedbackAnnouncer(repo=repo, notifier=notifier, clock=clock)
    return Part(service, outbox=announcer.handlers())


@dataclass(frozen=True)
class Intake:
    """Smarter intake's services: suggestions in the form, +1 and merges, known issues."""

    suggestions: SuggestionService
    duplicates: DuplicateService
    known: KnownIssueService
    priorities: PriorityService


def build_intake(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    feedback: FeedbackRepository,
    notifier: IntakeNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    ticket_comment: CommentEffects,
    ticket_link: LinkEffects,
) -> Part[Intake]:
    """Suggestions, +1s, merges and known issues; `ticket_*` queue Jira comments and links."""
    known_repo = KnownIssueRepository(sessions, program.id_prefix)
    intake_repo = IntakeRepository(sessions, program.id_prefix)
    suggestions = SuggestionService(
        sessions=sessions, known=known_repo, program=program, clock=clock
    )
    duplicates = DuplicateService(
        repo=intake_repo,
        program=program,
        clock=clock,
        ticket_comment=ticket_comment,
        ticket_link=ticket_link,
        on_enqueued=on_enqueued,
    )
    known = KnownIssueService(
        repo=known_repo,
        program=program,
        clock=clock,
        ticket_comment=ticket_comment,
        on_enqueued=on_enqueued,
    )
    announcer = DuplicateAnnouncer(feedback=feedback, repo=intake_repo, notifier=notifier)
    known_announcer = KnownIssueAnnouncer(feedback=feedback, notifier=notifier)
    outbox = {**announcer.handlers(), **known_announcer.handlers()}
    priorities = PriorityService(repo=intake_repo, program=program, clock=clock)
    return Part(Intake(suggestions, duplicates, known, priorities), outbox=outbox)
