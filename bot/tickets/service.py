"""Jira tickets for every subject (feedback or an alert incident): opened exactly once,
linked back to Slack, and followed until done."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from bot.config import Program
from bot.domain import (
    Effect,
    Feedback,
    FeedbackState,
    ItemKind,
    NoteKind,
    ThreadNote,
    Ticket,
    TicketCategory,
    TicketComment,
)
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.feedback.service import feedback_of
from bot.owners.service import owner_detail
from bot.ports import Clock, Directory, Notifier, TicketTracker
from bot.tickets.duplicates import duplicate_comment, split_duplicates
from bot.tickets.subjects import (
    ASSIGN,
    CLOSE_DUPLICATE,
    HYPERCARE_LABEL,
    NOTE,
    REFRESH_RECEIPT,
    TELL_REPORTER,
    Subject,
    Subjects,
    create_effect,
    note_effect,
    refresh_effect,
)
from storage.owners import OwnerRepository
from storage.repositories import FeedbackRepository
from storage.tickets import TicketRepository

log = logging.getLogger(__name__)

_SHORT_ID = re.compile(r"^([A-Z]{1,8})-(\d{1,9})$")

COMMENT = "ticket.comment"
LINK_DUPLICATE = "ticket.link_duplicate"


def comment_effect(feedback_id: int, comment: TicketComment) -> Effect:
    """Queue a comment on an item's ticket (once: its marker is its key)."""
    payload = {"feedback_id": feedback_id, "comment": comment.payload()}
    return Effect(COMMENT, payload, f"{COMMENT}:{feedback_id}:{comment.marker}")


def link_effect(duplicate_id: int, original_id: int) -> Effect:
    """Queue the Duplicate link from one item's ticket to another's."""
    payload = {"feedback_id": duplicate_id, "original_id": original_id}
    return Effect(LINK_DUPLICATE, payload, f"{LINK_DUPLICATE}:{duplicate_id}:{original_id}")


class RequestOutcome(StrEnum):
    """What became of a lead's request for a ticket."""

    QUEUED = "queued"
    ALREADY = "already"
    NOT_ALLOWED = "not_allowed"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


def _newly_resolved(feedback: Feedback, category: TicketCategory) -> bool:
    """Whether a status change just resolved the item (a merged item was closed before)."""
    return (
        category is TicketCategory.DONE
        and feedback.state is FeedbackState.RESOLVED
        and feedback.merged_into_id is None
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


class TicketService:
    """Open tickets through the outbox, record them, and carry their status back to Slack."""

    def __init__(
        self,
        *,
        subjects: Sequence[Subjects],
        feedback: FeedbackRepository,
        tickets: TicketRepository,
        tracker: TicketTracker | None,
        notifier: Notifier,
        program: Program,
        clock: Clock,
        on_enqueued: Callable[[], None] = lambda: None,
        owners: OwnerRepository | None = None,
        directory: Directory | None = None,
        on_resolved: Callable[[Feedback], Sequence[Effect]] = lambda f: (),
    ) -> None:
        self._subjects = {s.kind: s for s in subjects}
        self._owners = owners
        self._directory = directory
        self._on_resolved = on_resolved  # what follows a resolution (a root-cause prompt)
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
        return [create_effect(self._subjects[ItemKind.FEEDBACK].create_kind, None, "auto")]

    def on_alert_fired(self, alert_id: int, auto_ticket: bool) -> list[Effect]:
        """Effects to queue when an alert fires: a ticket when its rule says so."""
        if not self.enabled or not auto_ticket:
            return []
        return [create_effect(self._subjects[ItemKind.ALERT].create_kind, alert_id, "auto")]

    def request(self, kind: ItemKind, subject_id: int, actor: str) -> RequestOutcome:
        """Queue a ticket at a lead's request (the button on a receipt or an alert)."""
        if not self.enabled:
            return RequestOutcome.DISABLED
        if not self._program.is_lead(actor):
            return RequestOutcome.NOT_ALLOWED
        queued = self._subjects[kind].request(subject_id, actor, self._clock())
        if queued is None:
            return RequestOutcome.UNKNOWN
        if not queued:
            return RequestOutcome.ALREADY
        self._on_enqueued()
        return RequestOutcome.QUEUED

    @property
    def jira_kinds(self) -> frozenset[str]:
        """The outbox kinds that call Jira (the worker runs them beside the quick ones)."""
        creates = {s.create_kind for s in self._subjects.values()}
        return frozenset({CLOSE_DUPLICATE, COMMENT, LINK_DUPLICATE, ASSIGN, *creates})

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        creates: dict[str, Callable[[dict[str, object]], Sequence[Effect]]] = {
            s.create_kind: (lambda payload, s=s: self.create(s, payload))  # type: ignore[misc]
            for s in self._subjects.values()
        }
        return {
            **creates,
            NOTE: self.post_note,
            CLOSE_DUPLICATE: self.close_duplicate,
            COMMENT: self.post_comment,
            LINK_DUPLICATE: self.link_duplicate,
            ASSIGN: self.assign,
            REFRESH_RECEIPT: self.refresh_receipt,
            TELL_REPORTER: self.tell_reporter,
        }

    def create(self, subjects: Subjects, payload: dict[str, object]) -> Sequence[Effect]:
        """Adopt the subject's issue if Jira has it, else open it; then link it in Slack."""
        subject = subjects.load(payload)
        if subject.ticket_key or self._tracker is None:
            return []  # a second request, or Jira switched off since it was queued
        if subject.waiting_for:
            # The ticket links to the Slack thread; wait a moment for it to exist.
            raise DeliveryDeferred(subject.waiting_for, 1.0, waiting=True)
        try:
            found = self._tracker.find_all(subject.label)
            duplicates = split_duplicates(found)
            ticket = duplicates.keeper if duplicates else (found[0] if found else None)
            if ticket is not None:
                log.info(
                    "adopting %s for %s (created before a lost answer)", ticket.key, subject.name
                )
            else:
                ticket = self._tracker.create(subject.draft)
            owner = subjects.owner_name(ticket.key)
            if owner is not None and owner != subject.name:
                # Only after a Jira project was re-created or migrated under the bot.
                raise DeliveryRefused(f"Jira issue {ticket.key} is already linked to {owner}")
        except DeliveryRefused as refused:
            subjects.record_refusal(subject, refused.reason, self._clock())
            raise
        subjects.record_ticket(subject, ticket, self._clock())
        log.info("Jira issue %s linked to %s", ticket.key, subject.name)
        if duplicates:
            self._heal(subjects, subjects.load(payload), found)
        return []

    def _load(self, payload: dict[str, object]) -> Feedback:
        return feedback_of(self._feedback, payload)

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

    def _ticket_key(self, feedback: Feedback) -> str | None:
        """The item's ticket; waits while one is on its way, None when none will come."""
        if feedback.ticket_key is not None or self._tracker is None:
            return feedback.ticket_key
        if feedback.ticket_error is None and self._program.severity(feedback.severity).auto_ticket:
            raise DeliveryDeferred("the ticket is not open yet", 2.0, waiting=True)
        return None  # no ticket: the Slack thread holds everything

    def post_comment(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Add a comment to the item's ticket, once, if it has one."""
        key = self._ticket_key(self._load(payload))
        if key is not None and self._tracker is not None:
            self._tracker.comment(key, TicketComment.from_payload(payload["comment"]))
        return []

    def link_duplicate(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Link a merged item's ticket to its target's as a duplicate, when both have one."""
        duplicate = self._ticket_key(self._load(payload))
        original = self._ticket_key(self._load({"feedback_id": payload["original_id"]}))
        if duplicate and original and self._tracker is not None:
            self._tracker.link_duplicate(duplicate, original)
        return []

    def assign(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Assign the item's ticket to its owner's Jira account (found by their e-mail); say
        in the thread when Jira has nobody with it."""
        feedback = self._load(payload)
        owner = str(payload.get("owner") or "")
        if feedback.owner_id != owner or self._owners is None or self._directory is None:
            return []  # re-assigned since: a newer assignment is queued
        key = self._ticket_key(feedback)
        if key is None or self._tracker is None:
            return []  # no ticket: the Slack owner is the whole truth
        email = self._directory.email_of(owner)
        person = self._tracker.assign(key, email) if email else None
        if person is None:
            how = "no_jira_user" if email else "no_email"
            note = ThreadNote(NoteKind.OWNER, owner_detail(how, owner), None, self._clock())
            log.warning("%s: %s not assigned in Jira (%s)", feedback.short_id, key, how)
            return [note_effect(feedback, note, f"assign:{owner}:{how}")]
        self._owners.record_assignment(feedback.id, owner, person.id)
        log.info("%s assigned in Jira to the owner of %s", key, feedback.short_id)
        return []

    def apply_assignee(self, ticket: Ticket) -> bool:
        """Record a ticket's Jira assignee as its item's owner; announce it once."""
        if self._owners is None:
            return False
        person = ticket.assignee
        owner: tuple[str | None, str | None] = (None, None)
        if person is not None:
            slack = None
            if person.email and self._directory is not None:
                slack = self._directory.user_for_email(person.email)
            owner = (slack, None) if slack else (None, person.name)
        at = ticket.assignee_changed_at or ticket.updated or self._clock()
        actor = ticket.assignee_changed_by or "someone in Jira"
        how = "jira" if person is not None else "unassigned"
        ref = person.id if person is not None else None
        note = ThreadNote(NoteKind.OWNER, owner_detail(how, *owner), actor, at)
        tag = f"assignee:{ref}:{at:%Y%m%dT%H%M%S}"
        changed = self._owners.apply_assignee(
            ticket.key,
            ref,
            owner,
            actor,
            self._clock(),
            lambda f: [note_effect(f, note, tag), refresh_effect(f, tag)],
        )
        if changed is not None:
            log.info("%s (%s) re-assigned in Jira", ticket.key, changed.short_id)
            self._on_enqueued()
        return changed is not None

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
            lambda f: [
                note_effect(f, note, tag),
                refresh_effect(f, tag),
                *(self._on_resolved(f) if _newly_resolved(f, category) else ()),
            ],
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
        tickets = self._tracker.updated_since(HYPERCARE_LABEL, window_minutes)
        # Duplicates first: a stored key that turns out a younger duplicate is switched to
        # the keeper before its statuses are applied.
        self._heal_seen(tickets)
        for ticket in tickets:
            at = ticket.status_changed_at or ticket.updated or self._clock()
            if ticket.category is TicketCategory.DONE and ticket.resolved:
                at = ticket.resolved
            actor = ticket.status_changed_by or "someone in Jira"
            changed += self.apply_change(ticket.key, ticket.status, ticket.category, actor, at)
            self.apply_assignee(ticket)
        return changed

    def reconcile(self, window_minutes: int) -> int:
        """Look for duplicates among the hypercare issues created lately; return how many
        items had some (their closing is queued)."""
        if self._tracker is None:
            return 0
        return self._heal_seen(self._tracker.created_since(HYPERCARE_LABEL, window_minutes))

    def _heal_seen(self, tickets: Iterable[Ticket]) -> int:
        """Heal every item whose issues, as a search showed them, may include duplicates.

        Searching an item's label again is needed only when the search saw several issues of
        it, or one that is not the stored ticket (its twin may be older than the search's
        window); for every other issue this costs nothing but a lookup of the label.
        """
        assert self._tracker is not None
        seen: dict[str, list[Ticket]] = {}
        for ticket in tickets:
            for label in ticket.labels:
                if label.startswith(f"{HYPERCARE_LABEL}-"):
                    seen.setdefault(label, []).append(ticket)
        healed = 0
        for label, group in seen.items():
            owner = self._by_label(label)
            if owner is None:
                continue
            subjects, subject = owner
            keys = {t.key for t in group}
            if len(keys) < 2 and (subject.ticket_key is None or keys == {subject.ticket_key}):
                continue
            healed += self._heal(subjects, subject, self._tracker.find_all(label))
        return healed

    def _by_label(self, label: str) -> tuple[Subjects, Subject] | None:
        for subjects in self._subjects.values():
            subject = subjects.by_label(label)
            if subject is not None:
                return subjects, subject
        return None

    def _heal(self, subjects: Subjects, subject: Subject, found: Sequence[Ticket]) -> int:
        """Keep the oldest of an item's issues and queue the closing of the others (each once,
        however many searches or replicas find them)."""
        duplicates = split_duplicates(found)
        if duplicates is None:
            return 0
        keeper, others = duplicates.keeper, [t.key for t in duplicates.others]
        log.warning(
            "%s has %s Jira issues: %s stays, closing %s",
            subject.name,
            len(others) + 1,
            keeper.key,
            ", ".join(others),
        )
        subjects.record_duplicates(subject, keeper, others, self._clock())
        self._on_enqueued()
        return 1

    def close_duplicate(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Link a duplicate issue to the keeper, comment and close it; then say so once."""
        if self._tracker is None or self._program.jira is None:
            return []
        duplicate, keeper = str(payload["duplicate"]), str(payload["keeper"])
        subjects = self._subjects[ItemKind.ALERT if "alert_id" in payload else ItemKind.FEEDBACK]
        closed = self._tracker.close_duplicate(
            duplicate,
            keeper,
            duplicate_comment(keeper, str(payload.get("name") or "this item")),
            self._program.jira.duplicate_transition,
        )
        log.info("duplicate %s of %s %s", duplicate, keeper, "closed" if closed else "left open")
        return [subjects.duplicate_note(payload, duplicate, keeper, closed)]

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
