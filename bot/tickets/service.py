"""Jira tickets for feedback: opened exactly once, announced, and followed until done."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from bot.config import Program
from bot.domain import (
    Effect,
    Feedback,
    NoteKind,
    ThreadNote,
    Ticket,
    TicketCategory,
    TicketDraft,
)
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.feedback.service import feedback_of
from bot.ports import Clock, Notifier
from storage.repositories import FeedbackRepository
from storage.tickets import TicketRepository

log = logging.getLogger(__name__)

HYPERCARE_LABEL = "hypercare"
CREATE = "ticket.create"
NOTE = "ticket.note"
REFRESH_RECEIPT = "feedback.refresh_receipt"
TELL_REPORTER = "ticket.tell_reporter"

_SHORT_ID = re.compile(r"^([A-Z]{1,8})-(\d{1,9})$")


class TicketTracker(Protocol):
    """An issue tracker (Jira). Raises DeliveryDeferred / DeliveryRefused like every port."""

    def find(self, label: str) -> Ticket | None:
        """Return the issue carrying an idempotency label, if any."""
        ...

    def create(self, draft: TicketDraft) -> Ticket:
        """Open an issue."""
        ...

    def get(self, key: str) -> Ticket:
        """Return one issue's current state."""
        ...

    def updated_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with a label updated in the last minutes, oldest change first."""
        ...

    def check(
        self, *, priorities: Sequence[str], components: Sequence[str], custom_fields: Sequence[str]
    ) -> list[str]:
        """Return what of a mapping the tracker would refuse."""
        ...


class RequestOutcome(StrEnum):
    """What became of a lead's request for a ticket."""

    QUEUED = "queued"
    ALREADY = "already"
    NOT_ALLOWED = "not_allowed"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


def idempotency_label(feedback: Feedback) -> str:
    """The label that identifies this feedback's issue in Jira, searched before every create."""
    return f"hypercare-{feedback.short_id.lower()}"


def ticket_draft(feedback: Feedback, program: Program) -> TicketDraft:
    """Describe the ticket a piece of feedback becomes."""
    severity = program.severity(feedback.severity)
    category = next((c for c in program.categories if c.id == feedback.category), None)
    component = next((c for c in program.components if c.id == feedback.component), None)
    environment = next((c for c in program.environments if c.id == feedback.environment), None)
    jira = program.jira
    facts = [
        ("Feedback", feedback.short_id),
        ("Severity", severity.label),
        ("Category", category.label if category else feedback.category),
        ("Component", component.label if component else feedback.component),
        ("Environment", environment.label if environment else feedback.environment),
        (
            "Users affected",
            feedback.users_affected.label if feedback.users_affected else "Not given",
        ),
        ("Reported by", f"Slack user {feedback.reporter_id}"),
        ("Reported at", f"{feedback.created_at:%Y-%m-%d %H:%M} UTC"),
    ]
    details = [
        ("What they were trying to do", feedback.trying),
        ("What they expected", feedback.expected),
        ("What happened", feedback.actual),
        ("API endpoint", feedback.api_endpoint or ""),
        ("Correlation id", feedback.correlation_id or ""),
    ]
    if feedback.source is not None:
        details.append(("Original Slack message", feedback.source.text))
    links = [("Slack thread", feedback.receipt_permalink or "")]
    if feedback.source and feedback.source.permalink:
        links.append(("Original message", feedback.source.permalink))
    labels = [HYPERCARE_LABEL, f"severity-{feedback.severity}", f"category-{feedback.category}"]
    labels += [label for label in (jira.labels if jira else []) if label not in labels]
    components = []
    if component and component.jira_component:
        components.append(component.jira_component)
    else:
        labels.append(f"component-{feedback.component}")
    return TicketDraft(
        idempotency_label=idempotency_label(feedback),
        summary=f"[{feedback.short_id}] {feedback.summary}",
        facts=tuple(facts),
        details=tuple((h, t) for h, t in details if t.strip()),
        links=tuple((n, u) for n, u in links if u),
        priority=severity.jira_priority,
        labels=tuple(labels),
        components=tuple(components),
        extra_fields=tuple((jira.fields if jira else {}).items()),
    )


def check_mapping(tracker: TicketTracker | None, program: Program) -> list[str]:
    """Ask the tracker which parts of the program's Jira mapping it would refuse."""
    if tracker is None or program.jira is None:
        return []
    return tracker.check(
        priorities=sorted({s.jira_priority for s in program.severities if s.jira_priority}),
        components=sorted({c.jira_component for c in program.components if c.jira_component}),
        custom_fields=sorted(program.jira.fields),
    )


def note_effect(feedback: Feedback, note: ThreadNote, tag: str) -> Effect:
    """Queue a thread note; `tag` keeps distinct notes distinct and repeats idempotent."""
    payload: dict[str, object] = {
        "feedback_id": feedback.id,
        "kind": note.kind.value,
        "detail": note.detail,
        "actor": note.actor,
        "at": note.at.isoformat() if note.at else None,
    }
    return Effect(NOTE, payload, f"{NOTE}:{feedback.id}:{tag}")


class TicketService:
    """Open tickets through the outbox, record them, and carry their status back to Slack."""

    def __init__(
        self,
        *,
        feedback: FeedbackRepository,
        tickets: TicketRepository,
        tracker: TicketTracker | None,
        notifier: Notifier,
        program: Program,
        clock: Clock,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._feedback = feedback
        self._tickets = tickets
        self._tracker = tracker
        self._notifier = notifier
        self._program = program
        self._clock = clock
        self._on_enqueued = on_enqueued

    @property
    def enabled(self) -> bool:
        """Tell whether a tracker is configured."""
        return self._tracker is not None and self._program.jira is not None

    def on_submit(self, severity: str) -> list[Effect]:
        """Effects to queue with new feedback: a ticket when its severity says so."""
        if not self.enabled or not self._program.severity(severity).auto_ticket:
            return []
        return [Effect(CREATE, {}, CREATE + ":{feedback_id}:auto")]

    def request(self, feedback_id: int, actor: str) -> RequestOutcome:
        """Queue a ticket at a lead's request (the receipt's button)."""
        if not self.enabled:
            return RequestOutcome.DISABLED
        if not self._program.is_lead(actor):
            return RequestOutcome.NOT_ALLOWED
        now = self._clock()
        tag = f"{now:%Y%m%dT%H%M%S%f}"
        queued = self._tickets.request(
            feedback_id,
            actor,
            now,
            lambda f: [
                Effect(CREATE, {"feedback_id": f.id}, f"{CREATE}:{f.id}:{tag}"),
                Effect(REFRESH_RECEIPT, {"feedback_id": f.id}, f"{REFRESH_RECEIPT}:{f.id}:{tag}"),
            ],
        )
        if queued is None:
            exists = self._feedback.get(feedback_id) is not None
            return RequestOutcome.ALREADY if exists else RequestOutcome.UNKNOWN
        self._on_enqueued()
        return RequestOutcome.QUEUED

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            CREATE: self.create,
            NOTE: self.post_note,
            REFRESH_RECEIPT: self.refresh_receipt,
            TELL_REPORTER: self.tell_reporter,
        }

    def _load(self, payload: dict[str, object]) -> Feedback:
        return feedback_of(self._feedback, payload)

    def create(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Adopt the feedback's issue if Jira has it, else open it; then announce it."""
        feedback = self._load(payload)
        if feedback.ticket_key or self._tracker is None:
            return []  # a second request, or Jira switched off since it was queued
        if feedback.receipt_ts is None:
            # The ticket links to the Slack thread; wait a moment for the receipt to land.
            raise DeliveryDeferred("waiting for the receipt to be posted", 1.0, waiting=True)
        label = idempotency_label(feedback)
        try:
            ticket = self._tracker.find(label)
            if ticket is not None:
                log.info("adopting %s for %s (created before a lost answer)", ticket.key, label)
            else:
                ticket = self._tracker.create(ticket_draft(feedback, self._program))
            owner = self._tickets.by_ticket_key(ticket.key)
            if owner is not None and owner.id != feedback.id:
                # Only after a Jira project was re-created or migrated under the bot.
                raise DeliveryRefused(
                    f"Jira issue {ticket.key} is already linked to {owner.short_id}"
                )
        except DeliveryRefused as refused:
            note = ThreadNote(NoteKind.TICKET_REFUSED, refused.reason)
            tag = f"refused:{self._clock():%Y%m%dT%H%M%S%f}"
            self._tickets.record_failure(
                feedback.id,
                refused.reason,
                self._clock(),
                lambda f: [note_effect(f, note, tag), _refresh(f, tag)],
            )
            raise
        created = ThreadNote(NoteKind.TICKET_CREATED, ticket.key, at=self._clock())
        self._tickets.record_ticket(
            feedback.id,
            ticket,
            self._clock(),
            lambda f: [
                note_effect(f, created, f"created:{ticket.key}"),
                _refresh(f, f"created:{ticket.key}"),
                Effect(
                    TELL_REPORTER, {"feedback_id": f.id}, f"{TELL_REPORTER}:{f.id}:{ticket.key}"
                ),
            ],
        )
        return []

    def _needs_receipt(self, feedback: Feedback) -> None:
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)

    def post_note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post a note in the feedback's thread."""
        feedback = self._load(payload)
        self._needs_receipt(feedback)
        at = payload.get("at")
        note = ThreadNote(
            NoteKind(str(payload["kind"])),
            str(payload.get("detail") or ""),
            str(payload["actor"]) if payload.get("actor") else None,
            dt.datetime.fromisoformat(at) if isinstance(at, str) else None,
        )
        self._notifier.note_in_thread(feedback, note)
        return []

    def refresh_receipt(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Re-render the receipt in place with the ticket's key and status."""
        feedback = self._load(payload)
        self._needs_receipt(feedback)
        self._notifier.refresh_receipt(feedback)
        return []

    def tell_reporter(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Tell the reporter their feedback has a ticket."""
        self._notifier.tell_reporter_of_ticket(self._load(payload))
        return []

    def apply_change(
        self, key: str, status: str, category: TicketCategory, actor: str, at: dt.datetime
    ) -> bool:
        """Record a status seen in Jira; announce it once however often it is seen."""
        tag = f"status:{status}:{at:%Y%m%dT%H%M%S}"
        note = ThreadNote(NoteKind.TICKET_STATUS, status, actor, at)
        changed = self._tickets.apply_status(
            key,
            status,
            category,
            actor,
            at,
            self._clock(),
            lambda f: [note_effect(f, note, tag), _refresh(f, tag)],
        )
        if changed is not None:
            log.info("%s (%s) is now %s", key, changed.short_id, status)
            self._on_enqueued()
        return changed is not None

    def sync(self, window_minutes: int) -> int:
        """Poll Jira for recently updated hypercare issues; return how many changed here."""
        if self._tracker is None:
            return 0
        changed = 0
        for ticket in self._tracker.updated_since(HYPERCARE_LABEL, window_minutes):
            at = ticket.status_changed_at or ticket.updated or self._clock()
            if ticket.category is TicketCategory.DONE and ticket.resolved:
                at = ticket.resolved
            actor = ticket.status_changed_by or "someone in Jira"
            changed += self.apply_change(ticket.key, ticket.status, ticket.category, actor, at)
        return changed

    def check_mapping(self) -> list[str]:
        """Ask Jira whether the program's mapping would be accepted; raises if Jira is away."""
        return check_mapping(self._tracker, self._program)

    def take_delivery(self, identifier: str) -> bool:
        """Remember an inbound webhook delivery; False when it was seen before."""
        return self._tickets.take_inbound("jira", identifier, self._clock())

    def lookup(self, reference: str) -> Feedback | None:
        """Find feedback by its id (HC-42) or its Jira key (HYP-7)."""
        reference = reference.strip().upper()
        match = _SHORT_ID.match(reference)
        if match and match.group(1) == self._program.id_prefix:
            return self._feedback.get(int(match.group(2)))
        return self._tickets.by_ticket_key(reference)


def _refresh(feedback: Feedback, tag: str) -> Effect:
    return Effect(
        REFRESH_RECEIPT, {"feedback_id": feedback.id}, f"{REFRESH_RECEIPT}:{feedback.id}:{tag}"
    )
