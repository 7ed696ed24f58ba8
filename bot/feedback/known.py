"""Known issues: a lead marks an item as known with a workaround; reporters whose report
matches it see the workaround in the form, and the list says what is known."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.config import Program
from bot.domain import Effect, Feedback, KnownIssue, KnownOutcome, TicketComment
from bot.errors import DeliveryRefused
from bot.feedback.duplicates import CommentEffects, parse_reference, refresh_effect
from bot.feedback.service import feedback_of
from bot.ports import Clock, IntakeNotifier
from storage.known import KnownIssueRepository
from storage.repositories import FeedbackRepository

log = logging.getLogger(__name__)

KNOWN_NOTE = "intake.known_note"
WORKAROUND_MAX = 1000
LIST_MAX = 20


class KnownIssueService:
    """Marks, retires and lists known issues (leads only change them)."""

    def __init__(
        self,
        *,
        repo: KnownIssueRepository,
        program: Program,
        clock: Clock,
        ticket_comment: CommentEffects,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._program = program
        self._clock = clock
        self._comment = ticket_comment
        self._on_enqueued = on_enqueued

    def item_id(self, reference: str) -> int | None:
        """The number of an id like HC-42, or None."""
        return parse_reference(reference, self._program.id_prefix)

    def mark(
        self, feedback_id: int | None, workaround: str | None, actor: str
    ) -> tuple[KnownOutcome, Feedback | None]:
        """Mark an item as known with `workaround`, or (None) retire it; leads only."""
        if not self._program.is_lead(actor):
            return KnownOutcome.NOT_ALLOWED, None
        if feedback_id is None:
            return KnownOutcome.UNKNOWN, None
        text = " ".join(workaround.split())[:WORKAROUND_MAX] if workaround is not None else None
        now = self._clock()

        def effects(feedback: Feedback) -> list[Effect]:
            tag = f"known-{now:%Y%m%dT%H%M%S%f}"
            payload = {"feedback_id": feedback.id, "workaround": text, "actor": actor}
            heading = "Known issue" if text is not None else "No longer a known issue"
            facts = [("By", f"Slack user {actor}")]
            details = (("Workaround", text),) if text is not None else ()
            comment = TicketComment(f"known {feedback.id} {tag}", heading, tuple(facts), details)
            return [
                Effect(KNOWN_NOTE, payload, f"{KNOWN_NOTE}:{feedback.id}:{tag}"),
                refresh_effect(feedback.id, tag),
                *self._comment(feedback.id, comment),
            ]

        outcome, feedback = self._repo.mark(feedback_id, text, actor, now, effects)
        log.info("known issue %s: %s", feedback_id, outcome.value)
        if outcome in (KnownOutcome.MARKED, KnownOutcome.UPDATED, KnownOutcome.RETIRED):
            self._on_enqueued()
        return outcome, feedback

    def listing(self, limit: int = LIST_MAX) -> tuple[list[KnownIssue], int]:
        """The known issues, most reported first, and how many there are in all."""
        return self._repo.live(limit), self._repo.count()


class KnownIssueAnnouncer:
    """Carries out the known-issue notes the outbox worker hands over."""

    def __init__(self, *, feedback: FeedbackRepository, notifier: IntakeNotifier) -> None:
        self._feedback = feedback
        self._notifier = notifier

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {KNOWN_NOTE: self.known_note}

    def known_note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Say in the item's thread that it is known now (or no longer), and the workaround."""
        workaround = payload.get("workaround")
        if workaround is not None and not isinstance(workaround, str):
            raise DeliveryRefused(f"bad workaround in payload: {workaround!r}")
        feedback = feedback_of(self._feedback, payload)
        self._notifier.known_in_thread(feedback, workaround, str(payload["actor"]))
        return []
