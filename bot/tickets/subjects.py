"""What a ticket is about: a feedback item or an alert incident, each with its own draft,
idempotency label, thread notes and record of the link."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.alerts.service import NOTE as ALERT_NOTE
from bot.alerts.service import REFRESH as ALERT_REFRESH
from bot.alerts.service import value_text
from bot.config import Program
from bot.domain import Alert, Effect, Feedback, ItemKind, NoteKind, ThreadNote, Ticket, TicketDraft
from bot.errors import DeliveryRefused
from bot.feedback.service import feedback_of
from bot.tickets.duplicates import note_detail
from storage.alerts import AlertRepository
from storage.repositories import FeedbackRepository
from storage.tickets import TicketRepository

HYPERCARE_LABEL = "hypercare"  # on every issue the bot opens; the status poll searches it
CREATE = "ticket.create"  # outbox kinds: one per subject (rows already queued keep their kind)
CREATE_FOR_ALERT = "ticket.create_alert"
NOTE = "ticket.note"
REFRESH_RECEIPT = "feedback.refresh_receipt"
TELL_REPORTER = "ticket.tell_reporter"
CLOSE_DUPLICATE = "ticket.close_duplicate"
ASSIGN = "ticket.assign"


def assign_effect(feedback_id: int, owner: str, tag: str = "") -> Effect:
    """Queue the assignment of an item's ticket to its owner's Jira account (once per owner
    and tag; the handler does nothing when the owner changed since)."""
    payload: dict[str, object] = {"feedback_id": feedback_id, "owner": owner}
    return Effect(ASSIGN, payload, f"{ASSIGN}:{feedback_id}:{owner}:{tag}")


@dataclass(frozen=True)
class Subject:
    """One thing a ticket is for, as the ticket service sees it."""

    kind: ItemKind
    id: int
    name: str  # how logs and refusals name it: "HC-42", "alert 7"
    ticket_key: str | None
    label: str  # the idempotency label, searched before every create
    draft: TicketDraft
    waiting_for: str | None = None  # why the create must wait a moment, if it must


class Subjects(Protocol):
    """How tickets attach to one kind of subject; the ticket service does the rest."""

    kind: ItemKind
    create_kind: str

    def load(self, payload: dict[str, object]) -> Subject:
        """The subject an outbox payload names; DeliveryRefused if it is gone."""
        ...

    def request(self, subject_id: int, actor: str, now: dt.datetime) -> bool | None:
        """Queue a create at a lead's request: True queued, False has one, None unknown."""
        ...

    def owner_name(self, key: str) -> str | None:
        """The name of whatever a Jira key is linked to already, if anything."""
        ...

    def record_ticket(self, subject: Subject, ticket: Ticket, now: dt.datetime) -> None:
        """Link the ticket and queue its announcements, in one transaction."""
        ...

    def record_refusal(self, subject: Subject, reason: str, now: dt.datetime) -> None:
        """Remember that Jira refused the ticket and say so where the subject lives."""
        ...

    def by_label(self, label: str) -> Subject | None:
        """The subject an idempotency label names, if it is one of this kind's and exists."""
        ...

    def record_duplicates(
        self, subject: Subject, keeper: Ticket, duplicates: Sequence[str], now: dt.datetime
    ) -> None:
        """Keep `keeper` as the ticket (instead of a younger duplicate) and queue the closing
        of each duplicate, in one transaction."""
        ...

    def duplicate_note(
        self, payload: dict[str, object], duplicate: str, keeper: str, closed: bool
    ) -> Effect:
        """The note, queued once per duplicate, telling the subject's thread what was done."""
        ...


def close_duplicate_effect(field: str, subject: Subject, duplicate: str, keeper: str) -> Effect:
    """Queue the closing of one duplicate issue: once per duplicate, whoever finds it."""
    payload: dict[str, object] = {
        field: subject.id,
        "duplicate": duplicate,
        "keeper": keeper,
        "name": subject.name,
    }
    return Effect(CLOSE_DUPLICATE, payload, f"{CLOSE_DUPLICATE}:{duplicate}")


def _label_id(pattern: re.Pattern[str], label: str) -> int | None:
    match = pattern.match(label)
    return int(match.group(1)) if match else None


def _loaded(subjects: Subjects, payload: dict[str, object]) -> Subject | None:
    """The subject a payload names, or None when it is gone (say, an issue of another
    database's feedback carries a label like ours)."""
    try:
        return subjects.load(payload)
    except DeliveryRefused:
        return None


def create_effect(kind: str, subject_id: int | None, tag: str) -> Effect:
    """Queue a ticket's creation; `tag` keeps distinct requests distinct, repeats idempotent."""
    field = "alert_id" if kind == CREATE_FOR_ALERT else "feedback_id"
    if subject_id is None:  # queued with new feedback: its id is filled in on insert
        return Effect(kind, {}, kind + ":{" + field + "}:" + tag)
    return Effect(kind, {field: subject_id}, f"{kind}:{subject_id}:{tag}")


# -- feedback ------------------------------------------------------------------------------------


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


def refresh_effect(feedback: Feedback, tag: str) -> Effect:
    """Queue a re-render of the feedback's receipt."""
    return Effect(
        REFRESH_RECEIPT, {"feedback_id": feedback.id}, f"{REFRESH_RECEIPT}:{feedback.id}:{tag}"
    )


class FeedbackSubjects:
    """Tickets for feedback: linked from the receipt's thread, announced to the reporter."""

    kind = ItemKind.FEEDBACK
    create_kind = CREATE

    def __init__(
        self, feedback: FeedbackRepository, tickets: TicketRepository, program: Program
    ) -> None:
        self._feedback = feedback
        self._tickets = tickets
        self._program = program

    def load(self, payload: dict[str, object]) -> Subject:
        """The feedback a payload names (its receipt links the ticket back to Slack)."""
        feedback = feedback_of(self._feedback, payload)
        return Subject(
            kind=self.kind,
            id=feedback.id,
            name=feedback.short_id,
            ticket_key=feedback.ticket_key,
            label=idempotency_label(feedback),
            draft=ticket_draft(feedback, self._program),
            waiting_for=None if feedback.receipt_ts else "waiting for the receipt to be posted",
        )

    def request(self, subject_id: int, actor: str, now: dt.datetime) -> bool | None:
        """Queue the create and refresh the receipt (its button becomes "requested")."""
        tag = f"{actor}:{now:%Y%m%dT%H%M%S%f}"
        queued = self._tickets.request(
            subject_id,
            actor,
            now,
            lambda f: [create_effect(CREATE, f.id, tag), refresh_effect(f, tag)],
        )
        if queued is not None:
            return True
        return False if self._feedback.get(subject_id) is not None else None

    def owner_name(self, key: str) -> str | None:
        """The feedback a Jira key belongs to."""
        owner = self._tickets.by_ticket_key(key)
        return owner.short_id if owner else None

    def record_ticket(self, subject: Subject, ticket: Ticket, now: dt.datetime) -> None:
        """Link it, note it in the thread, refresh the receipt, tell the reporter."""
        created = ThreadNote(NoteKind.TICKET_CREATED, ticket.key, at=now)
        tag = f"created:{ticket.key}"
        self._tickets.record_ticket(
            subject.id,
            ticket,
            now,
            lambda f: [
                note_effect(f, created, tag),
                refresh_effect(f, tag),
                Effect(
                    TELL_REPORTER, {"feedback_id": f.id}, f"{TELL_REPORTER}:{f.id}:{ticket.key}"
                ),
                # Taken before it had a ticket: the new ticket goes to the owner too.
                *([assign_effect(f.id, f.owner_id, ticket.key)] if f.owner_id else []),
            ],
        )

    def record_refusal(self, subject: Subject, reason: str, now: dt.datetime) -> None:
        """Keep the reason on the item and post it in the thread."""
        note = ThreadNote(NoteKind.TICKET_REFUSED, reason)
        tag = f"refused:{now:%Y%m%dT%H%M%S%f}"
        self._tickets.record_failure(
            subject.id, reason, now, lambda f: [note_effect(f, note, tag), refresh_effect(f, tag)]
        )

    def by_label(self, label: str) -> Subject | None:
        """The feedback a `hypercare-hc-42` label names."""
        pattern = re.compile(rf"^hypercare-{re.escape(self._program.id_prefix.lower())}-(\d+)$")
        feedback_id = _label_id(pattern, label)
        return None if feedback_id is None else _loaded(self, {"feedback_id": feedback_id})

    def record_duplicates(
        self, subject: Subject, keeper: Ticket, duplicates: Sequence[str], now: dt.datetime
    ) -> None:
        """Switch to the keeper if the stored key is a duplicate (the receipt shows it)."""
        tag = f"kept:{keeper.key}"
        self._tickets.record_duplicates(
            subject.id,
            keeper,
            duplicates,
            now,
            lambda f: [
                *(
                    close_duplicate_effect("feedback_id", subject, key, keeper.key)
                    for key in duplicates
                ),
                *([refresh_effect(f, tag)] if subject.ticket_key in duplicates else []),
            ],
        )

    def duplicate_note(
        self, payload: dict[str, object], duplicate: str, keeper: str, closed: bool
    ) -> Effect:
        """A note in the feedback's thread naming the duplicate closed and the ticket kept."""
        feedback = feedback_of(self._feedback, payload)
        note = ThreadNote(NoteKind.TICKET_DUPLICATE, note_detail(duplicate, keeper, closed))
        return note_effect(feedback, note, f"duplicate:{duplicate}")


# -- alerts --------------------------------------------------------------------------------------


_ALERT_LABEL = re.compile(r"^hypercare-alert-(\d+)$")


def alert_label(alert: Alert) -> str:
    """The idempotency label of an alert's Jira issue, searched before every create."""
    return f"hypercare-alert-{alert.id}"


def alert_draft(alert: Alert, program: Program) -> TicketDraft:
    """Describe the ticket an alert becomes."""
    severity = next((s for s in program.severities if s.id == alert.severity), None)
    scope = ", ".join(f"{k}={v}" for k, v in alert.scope) or "all traffic"
    facts = (
        ("Alert rule", alert.rule_id),
        ("Severity", severity.label if severity else alert.severity),
        ("Scope", scope),
        ("Value when it fired", value_text(alert.value, alert.unit)),
        ("Threshold", value_text(alert.threshold, alert.unit)),
        ("Metrics source", alert.source_id),
        ("Breaching since", f"{alert.since:%Y-%m-%d %H:%M} UTC"),
    )
    return TicketDraft(
        idempotency_label=alert_label(alert),
        summary=f"[alert] {alert.rule_id} firing on {scope}",
        facts=facts,
        details=(),
        links=(),
        priority=severity.jira_priority if severity else None,
        labels=(HYPERCARE_LABEL, "alert", f"severity-{alert.severity}", f"rule-{alert.rule_id}"),
        components=(),
        extra_fields=tuple((program.jira.fields if program.jira else {}).items()),
    )


def _alert_note(alert_id: int, kind: str, *, by: str, reason: str) -> dict[str, object]:
    """The payload of a ticket note in an alert's thread (the alert announcer renders it)."""
    return {"alert_id": alert_id, "kind": kind, "by": by, "until": None, "reason": reason}


class AlertSubjects:
    """Tickets for alert incidents: linked from the alert's message and thread."""

    kind = ItemKind.ALERT
    create_kind = CREATE_FOR_ALERT

    def __init__(self, alerts: AlertRepository, program: Program) -> None:
        self._alerts = alerts
        self._program = program

    def load(self, payload: dict[str, object]) -> Subject:
        """The alert a payload names."""
        alert_id = payload.get("alert_id")
        alert = self._alerts.get(alert_id) if isinstance(alert_id, int) else None
        if alert is None:
            raise DeliveryRefused(f"alert {alert_id!r} does not exist")
        return Subject(
            kind=self.kind,
            id=alert.id,
            name=f"alert {alert.id}",
            ticket_key=alert.ticket_key,
            label=alert_label(alert),
            draft=alert_draft(alert, self._program),
        )

    def request(self, subject_id: int, actor: str, now: dt.datetime) -> bool | None:
        """Queue the create (the alert's message shows the ticket once it exists)."""
        alert = self._alerts.get(subject_id)
        if alert is None:
            return None
        if alert.ticket_key:
            return False
        tag = f"{actor}:{now:%Y%m%dT%H%M%S%f}"
        self._alerts.queue([create_effect(CREATE_FOR_ALERT, alert.id, tag)], now)
        return True

    def owner_name(self, key: str) -> str | None:
        """Alerts share no Jira issue with anything: their labels are their own."""
        return None

    def record_ticket(self, subject: Subject, ticket: Ticket, now: dt.datetime) -> None:
        """Link it, note it in the alert's thread and refresh the alert's message."""
        tag = f"{subject.id}:ticket:{ticket.key}"
        note = _alert_note(subject.id, "ticketed", by=ticket.key, reason=ticket.url)
        self._alerts.record_ticket(
            subject.id,
            ticket.key,
            ticket.url,
            now,
            lambda a: [
                Effect(ALERT_NOTE, note, f"{ALERT_NOTE}:{tag}"),
                Effect(ALERT_REFRESH, {"alert_id": a.id}, f"{ALERT_REFRESH}:{tag}"),
            ],
        )

    def record_refusal(self, subject: Subject, reason: str, now: dt.datetime) -> None:
        """Say in the alert's thread that Jira refused the ticket, and why (leads can press
        *Create Jira ticket* again once the mapping is fixed)."""
        note = _alert_note(subject.id, "ticket_refused", by="", reason=reason)
        tag = f"{subject.id}:refused:{now:%Y%m%dT%H%M%S%f}"
        self._alerts.queue([Effect(ALERT_NOTE, note, f"{ALERT_NOTE}:{tag}")], now)

    def by_label(self, label: str) -> Subject | None:
        """The alert a `hypercare-alert-7` label names."""
        alert_id = _label_id(_ALERT_LABEL, label)
        return None if alert_id is None else _loaded(self, {"alert_id": alert_id})

    def record_duplicates(
        self, subject: Subject, keeper: Ticket, duplicates: Sequence[str], now: dt.datetime
    ) -> None:
        """Switch to the keeper if the stored key is a duplicate (the message shows it)."""
        tag = f"{subject.id}:kept:{keeper.key}"
        self._alerts.record_duplicates(
            subject.id,
            (keeper.key, keeper.url),
            duplicates,
            now,
            lambda a: [
                *(
                    close_duplicate_effect("alert_id", subject, key, keeper.key)
                    for key in duplicates
                ),
                *(
                    [Effect(ALERT_REFRESH, {"alert_id": a.id}, f"{ALERT_REFRESH}:{tag}")]
                    if subject.ticket_key in duplicates
                    else []
                ),
            ],
        )

    def duplicate_note(
        self, payload: dict[str, object], duplicate: str, keeper: str, closed: bool
    ) -> Effect:
        """A note in the alert's thread naming the duplicate closed and the ticket kept."""
        alert_id = payload.get("alert_id")
        reason = note_detail(duplicate, keeper, closed)
        note = _alert_note(int(str(alert_id)), "ticket_duplicate", by=duplicate, reason=reason)
        return Effect(ALERT_NOTE, note, f"{ALERT_NOTE}:{alert_id}:duplicate:{duplicate}")
