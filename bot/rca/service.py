"""Root causes: the prompt in a resolved urgent item's thread, the record (symptom, the 5 whys,
category, fix, prevention), the digest's reminder, and the post-mortem draft."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Program
from bot.domain import Effect, Feedback, FeedbackState, RootCause, TicketComment
from bot.feedback.duplicates import parse_reference
from bot.feedback.service import feedback_of
from bot.ports import Clock, RcaNotifier
from bot.rca.postmortem import draft
from storage.rca import RootCauseRepository
from storage.repositories import FeedbackRepository

log = logging.getLogger(__name__)

PROMPT = "rca.prompt"
NOTE = "rca.note"
POSTMORTEM = "rca.postmortem"
LESSON_OFFER = "rca.lesson_offer"

TEXT_MAX = 1000  # symptom, fix, prevention
WHY_MAX = 300
WHYS = 5
DUE_LIST = 50

CommentEffects = Callable[[int, TicketComment], Sequence[Effect]]


class RcaOutcome(StrEnum):
    """What became of recording a root cause or asking for a post-mortem."""

    DONE = "done"
    NOT_ALLOWED = "not_allowed"  # only the owner (or a lead, or the reporter of an unowned item)
    NOT_RESOLVED = "not_resolved"  # a root cause is recorded once the item is resolved
    UNKNOWN = "unknown"


class RcaField(StrEnum):
    """The fields of the root-cause form; problems are keyed by these."""

    SYMPTOM = "symptom"
    WHYS = "whys"
    CATEGORY = "category"
    FIX = "fix"
    PREVENTION = "prevention"


@dataclass(frozen=True)
class RootCauseForm:
    """What the owner wrote in the root-cause form (user text)."""

    symptom: str
    whys: tuple[str, ...]
    category: str
    fix: str
    prevention: str


def _clean(text: str, limit: int) -> str:
    return text.strip()[:limit]


class RcaService:
    """Prompts for, records and reminds of root causes; drafts post-mortems."""

    def __init__(
        self,
        *,
        repo: RootCauseRepository,
        feedback: FeedbackRepository,
        program: Program,
        clock: Clock,
        enqueue: Callable[[Sequence[Effect], dt.datetime], None],
        ticket_comment: CommentEffects = lambda feedback_id, comment: (),
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._enqueue = enqueue  # the outbox, for effects that change no row
        self._repo = repo
        self._feedback = feedback
        self._program = program
        self._clock = clock
        self._comment = ticket_comment
        self._on_enqueued = on_enqueued

    def item_id(self, reference: str) -> int | None:
        """The number of an id like HC-42 (any case), or None."""
        return parse_reference(reference, self._program.id_prefix)

    def get(self, feedback_id: int) -> Feedback | None:
        """One item."""
        return self._feedback.get(feedback_id)

    def on_resolved(self, feedback: Feedback) -> list[Effect]:
        """Effects to queue as an item is resolved: the prompt, when its severity owes a
        root cause (once per resolution)."""
        if not self._program.owes_root_cause(feedback.severity) or feedback.resolved_at is None:
            return []
        tag = f"{feedback.resolved_at:%Y%m%dT%H%M%S}"
        return [Effect(PROMPT, {"feedback_id": feedback.id}, f"{PROMPT}:{feedback.id}:{tag}")]

    def may_record(self, feedback: Feedback, user: str) -> RcaOutcome:
        """Whether `user` may record the item's root cause: its owner, a lead, or, while
        nobody owns it, its reporter; and only once it is resolved."""
        owner_or_lead = user == feedback.owner_id or self._program.is_lead(user)
        if not (owner_or_lead or (not feedback.owned and user == feedback.reporter_id)):
            return RcaOutcome.NOT_ALLOWED
        if feedback.state is not FeedbackState.RESOLVED:
            return RcaOutcome.NOT_RESOLVED
        return RcaOutcome.DONE

    def problems(self, form: RootCauseForm) -> dict[RcaField, str]:
        """What is wrong with a filled-in form, by field (empty when nothing is)."""
        problems: dict[RcaField, str] = {}
        if not form.symptom.strip():
            problems[RcaField.SYMPTOM] = "Please describe the symptom users saw."
        if not any(w.strip() for w in form.whys):
            problems[RcaField.WHYS] = "Please answer at least the first why."
        if form.category not in {c.id for c in self._program.rca.categories}:
            problems[RcaField.CATEGORY] = "Please choose a root-cause category."
        if not form.fix.strip():
            problems[RcaField.FIX] = "Please say what fixed it."
        if not form.prevention.strip():
            problems[RcaField.PREVENTION] = "Please give one action that prevents it next time."
        return problems

    def record(
        self, feedback_id: int, form: RootCauseForm, actor: str
    ) -> tuple[RcaOutcome, Feedback | None]:
        """Store the item's root cause (checked: `problems` first), note it in the thread and
        comment it on the ticket."""
        feedback = self._feedback.get(feedback_id)
        if feedback is None:
            return RcaOutcome.UNKNOWN, None
        allowed = self.may_record(feedback, actor)
        if allowed is not RcaOutcome.DONE:
            return allowed, feedback
        now = self._clock()
        cause = RootCause(
            feedback_id=feedback_id,
            symptom=_clean(form.symptom, TEXT_MAX),
            whys=tuple(_clean(w, WHY_MAX) for w in form.whys if w.strip())[:WHYS],
            category=form.category,
            fix=_clean(form.fix, TEXT_MAX),
            prevention=_clean(form.prevention, TEXT_MAX),
            recorded_by=actor,
            recorded_at=now,
        )
        tag = f"{now:%Y%m%dT%H%M%S%f}"

        def effects(item: Feedback) -> list[Effect]:
            label = self._program.rca.category_label(cause.category)
            facts = (("Category", label), ("Recorded by", f"Slack user {actor}"))
            details = (
                ("Symptom", cause.symptom),
                *((f"Why {n}", why) for n, why in enumerate(cause.whys, start=1)),
                ("Fix", cause.fix),
                ("Prevention", cause.prevention),
            )
            comment = TicketComment(f"root cause {item.id} {tag}", "Root cause", facts, details)
            return [
                Effect(NOTE, {"feedback_id": item.id}, f"{NOTE}:{item.id}:{tag}"),
                *self._comment(item.id, comment),
            ]

        stored = self._repo.record(cause, effects)
        if stored is None:
            return RcaOutcome.UNKNOWN, None
        log.info("root cause of %s recorded (%s)", stored.short_id, cause.category)
        self._on_enqueued()
        return RcaOutcome.DONE, stored

    def root_cause(self, feedback_id: int) -> RootCause | None:
        """An item's root cause, if recorded."""
        return self._repo.get(feedback_id)

    def due(self, now: dt.datetime) -> list[Feedback]:
        """Resolved urgent items without a root cause `rca.due_within` after resolution."""
        ranked = [s.id for s in self._program.severities]
        severities = [s for s in ranked if self._program.owes_root_cause(s)]
        cutoff = now - dt.timedelta(seconds=self._program.rca.due_within)
        return self._repo.missing(severities, cutoff, DUE_LIST)

    def postmortem(self, feedback_id: int) -> str | None:
        """The post-mortem draft of an item as Markdown; None when there is no such item."""
        now = self._clock()
        facts = self._repo.facts(feedback_id, now)
        return draft(facts, self._program, now) if facts is not None else None

    def request_postmortem(self, reference: str, actor: str) -> tuple[RcaOutcome, Feedback | None]:
        """`/hypercare postmortem HC-42`: queue the draft's upload in the item's thread."""
        feedback_id = self.item_id(reference)
        feedback = self._feedback.get(feedback_id) if feedback_id is not None else None
        if feedback is None:
            return RcaOutcome.UNKNOWN, None
        now = self._clock()
        # One draft per person and minute: a double-sent command uploads it once.
        key = f"{POSTMORTEM}:{feedback.id}:{actor}:{now:%Y%m%dT%H%M}"
        payload: dict[str, object] = {"feedback_id": feedback.id, "key": key}
        self._enqueue([Effect(POSTMORTEM, payload, key)], now)
        self._on_enqueued()
        return RcaOutcome.DONE, feedback


class RcaAnnouncer:
    """Carries out the prompts, notes and uploads queued above."""

    def __init__(
        self,
        *,
        service: RcaService,
        feedback: FeedbackRepository,
        notifier: RcaNotifier,
    ) -> None:
        self._service = service
        self._feedback = feedback
        self._notifier = notifier

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            PROMPT: self.prompt,
            NOTE: self.note,
            POSTMORTEM: self.upload,
            LESSON_OFFER: self.offer_lesson,
        }

    def prompt(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post the *Record root cause* button, unless one was recorded meanwhile."""
        feedback = feedback_of(self._feedback, payload)
        if self._service.root_cause(feedback.id) is None:
            self._notifier.ask_root_cause(feedback)
        return []

    def note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post the recorded root cause in the item's thread."""
        feedback = feedback_of(self._feedback, payload)
        cause = self._service.root_cause(feedback.id)
        if cause is not None:
            self._notifier.root_cause_in_thread(feedback, cause)
        return []

    def upload(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Build the post-mortem draft now and upload it in the item's thread; *Add a lesson*
        follows as its own row, so a failed post of it never uploads the draft twice."""
        feedback = feedback_of(self._feedback, payload)
        markdown = self._service.postmortem(feedback.id)
        if markdown is None:
            return []
        filename = f"postmortem-{feedback.short_id.lower()}.md"
        self._notifier.upload_postmortem(feedback, filename, markdown)
        key = str(payload.get("key") or f"{POSTMORTEM}:{feedback.id}")
        return [Effect(LESSON_OFFER, {"feedback_id": feedback.id}, f"{LESSON_OFFER}:{key}")]

    def offer_lesson(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post *Add a lesson* in the item's thread, under its post-mortem draft."""
        self._notifier.offer_lesson(feedback_of(self._feedback, payload))
        return []
