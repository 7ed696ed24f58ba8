"""Build intake: the feedback service and the announcer that posts receipts and replies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.config import Program
from bot.domain import Effect
from bot.feedback.service import FeedbackAnnouncer, FeedbackService
from bot.parts import Part
from bot.ports import Clock, Notifier
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
