"""One problem, one item: "Same problem: +1" joins a report to a stored item, and a lead's merge
folds one item into another. Both are stored with what must follow, then carried out once."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from bot.config import Program
from bot.domain import (
    Effect,
    Feedback,
    FeedbackDraft,
    MergeOutcome,
    MergeResult,
    PlusOne,
    PlusOneResult,
    TicketComment,
)
from bot.errors import DeliveryRefused
from bot.feedback.service import TEXT_MAX, feedback_of
from bot.ports import Clock, IntakeNotifier
from storage.intake import IntakeRepository
from storage.repositories import FeedbackRepository

log = logging.getLogger(__name__)

PLUS_ONE_NOTE = "intake.plus_one_note"
CONFIRM_PLUS_ONE = "intake.confirm_plus_one"
MERGE_NOTE = "intake.merge_note"
REFRESH = "intake.refresh_receipt"

_SHORT_ID = re.compile(r"^([A-Z]{1,8})-(\d{1,9})$")

# What the ticket capability queues for an item's ticket (wired in bot/app/build.py).
CommentEffects = Callable[[int, TicketComment], Sequence[Effect]]
LinkEffects = Callable[[int, int], Sequence[Effect]]


def refresh_effect(feedback_id: int, tag: str) -> Effect:
    """Queue a re-render of an item's receipt."""
    return Effect(REFRESH, {"feedback_id": feedback_id}, f"{REFRESH}:{feedback_id}:{tag}")


def parse_reference(reference: str, prefix: str) -> int | None:
    """The number of an item id like HC-42 (case forgiven); None for anything else."""
    match = _SHORT_ID.match(reference.strip().upper())
    return int(match.group(2)) if match and match.group(1) == prefix else None


class DuplicateService:
    """Adds reporters to items and merges items, each with its announcements queued."""

    def __init__(
        self,
        *,
        repo: IntakeRepository,
        program: Program,
        clock: Clock,
        ticket_comment: CommentEffects,
        ticket_link: LinkEffects,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._program = program
        self._clock = clock
        self._comment = ticket_comment
        self._link = ticket_link
        self._on_enqueued = on_enqueued

    def plus_one(self, feedback_id: int, draft: FeedbackDraft) -> PlusOneResult:
        """Attach the reporter of `draft` to a stored item instead of filing a new one."""
        text = "\n".join(t for t in (draft.summary, draft.actual.strip()) if t)
        entry = PlusOne(
            reporter_id=draft.reporter_id,
            environment=draft.environment,
            correlation_id=draft.correlation_id,
            users_affected=draft.users_affected,
            text=text[:TEXT_MAX],
            at=self._clock(),
        )

        def effects(feedback: Feedback, reporter: int) -> list[Effect]:
            payload = {"feedback_id": feedback.id, "reporter": reporter}
            comment = self._plus_one_comment(feedback, entry, reporter)
            return [
                Effect(PLUS_ONE_NOTE, payload, f"{PLUS_ONE_NOTE}:{reporter}"),
                Effect(CONFIRM_PLUS_ONE, payload, f"{CONFIRM_PLUS_ONE}:{reporter}"),
                refresh_effect(feedback.id, f"plus1-{reporter}"),
                *self._comment(feedback.id, comment),
            ]

        result = self._repo.plus_one(feedback_id, entry, effects)
        log.info("+1 on feedback %s: %s", feedback_id, result.outcome.value)
        if result.feedback is not None and result.outcome.value == "added":
            self._on_enqueued()
        return result

    def _plus_one_comment(self, feedback: Feedback, entry: PlusOne, reporter: int) -> TicketComment:
        environment = next(
            (e.label for e in self._program.environments if e.id == entry.environment),
            entry.environment or "not given",
        )
        facts = [
            ("Reporter", f"Slack user {entry.reporter_id}"),
            ("Reported at", entry.at.strftime("%Y-%m-%d %H:%M UTC")),
            ("Environment", environment),
            ("Users affected", entry.users_affected.label if entry.users_affected else "not given"),
            ("Reporters now", str(feedback.reporters)),
        ]
        if entry.correlation_id:
            facts.append(("Correlation id", entry.correlation_id))
        if feedback.receipt_permalink:
            facts.append(("Slack thread", feedback.receipt_permalink))
        return TicketComment(
            marker=f"plus-one {reporter}",
            heading=f"{feedback.short_id} was reported again",
            facts=tuple(facts),
            details=(("What they wrote", entry.text),),
        )

    def merge(self, source: str, target: str, actor: str) -> MergeResult:
        """A lead folds `source` (HC-12) into `target` (HC-9): reporters, reach and thread move."""
        if not self._program.is_lead(actor):
            return MergeResult(MergeOutcome.NOT_ALLOWED)
        prefix = self._program.id_prefix
        source_id, target_id = parse_reference(source, prefix), parse_reference(target, prefix)
        if source_id is None or target_id is None:
            return MergeResult(MergeOutcome.UNKNOWN)

        def effects(merged: Feedback, into: Feedback) -> list[Effect]:
            tag = f"merge-{merged.id}-{into.id}"
            comment = TicketComment(
                marker=f"merged {merged.id} into {into.id}",
                heading=f"{merged.short_id} was merged into {into.short_id}",
                facts=tuple(
                    (name, value)
                    for name, value in (
                        ("Merged by", f"Slack user {actor}"),
                        ("Now tracked as", into.short_id),
                        ("Its ticket", into.ticket_key or ""),
                        ("Slack thread", into.receipt_permalink or ""),
                    )
                    if value
                ),
            )
            return [
                Effect(MERGE_NOTE, _merge_payload(merged, into, actor), f"{MERGE_NOTE}:{tag}:from"),
                Effect(MERGE_NOTE, _merge_payload(into, merged, actor), f"{MERGE_NOTE}:{tag}:into"),
                refresh_effect(merged.id, tag),
                refresh_effect(into.id, tag),
                *self._comment(merged.id, comment),
                *self._link(merged.id, into.id),
            ]

        result = self._repo.merge(source_id, target_id, actor, self._clock(), effects)
        log.info("merge of %s into %s: %s", source_id, target_id, result.outcome.value)
        if result.outcome in (MergeOutcome.MERGED, MergeOutcome.MERGED_INTO_RESOLVED):
            self._on_enqueued()
        return result


def _merge_payload(feedback: Feedback, other: Feedback, actor: str) -> dict[str, object]:
    return {"feedback_id": feedback.id, "other": other.id, "actor": actor}


class DuplicateAnnouncer:
    """Carries out the +1 and merge side effects the outbox worker hands over."""

    def __init__(
        self, *, feedback: FeedbackRepository, repo: IntakeRepository, notifier: IntakeNotifier
    ) -> None:
        self._feedback = feedback
        self._repo = repo
        self._notifier = notifier

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            PLUS_ONE_NOTE: self.plus_one_note,
            CONFIRM_PLUS_ONE: self.confirm_plus_one,
            MERGE_NOTE: self.merge_note,
            REFRESH: self.refresh,
        }

    def _entry(self, payload: dict[str, object]) -> tuple[Feedback, PlusOne]:
        feedback = feedback_of(self._feedback, payload)
        reporter = payload.get("reporter")
        entry = self._repo.reporter(reporter) if isinstance(reporter, int) else None
        if entry is None:
            raise DeliveryRefused(f"reporter {reporter!r} of {feedback.short_id} does not exist")
        return feedback, entry

    def plus_one_note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Say in the item's thread who else reported it."""
        self._notifier.plus_one_in_thread(*self._entry(payload))
        return []

    def confirm_plus_one(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Tell the +1's reporter privately, with the link."""
        self._notifier.confirm_plus_one(*self._entry(payload))
        return []

    def merge_note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Say in one of a merge's two threads what happened."""
        feedback = feedback_of(self._feedback, payload)
        other = feedback_of(self._feedback, {"feedback_id": payload["other"]})
        self._notifier.merge_in_thread(feedback, other, str(payload["actor"]))
        return []

    def refresh(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Re-render the item's receipt (its reporters, reach, merge or known issue)."""
        self._notifier.refresh_receipt(feedback_of(self._feedback, payload))
        return []
