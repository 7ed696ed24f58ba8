"""Owners: taking an item (*Take it*), a lead assigning it (`/hypercare assign`), a lead
resolving it from Slack (*Resolve*), and each person's open items."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence

from bot.config import Program
from bot.domain import (
    Effect,
    Feedback,
    NoteKind,
    OwnerOutcome,
    OwnerResult,
    ThreadNote,
)
from bot.feedback.duplicates import parse_reference
from bot.feedback.service import feedback_of
from bot.ports import Clock, Directory, Notifier
from storage.owners import OwnerRepository
from storage.repositories import FeedbackRepository

log = logging.getLogger(__name__)

NOTE = "owner.note"
REFRESH = "owner.refresh_receipt"

TicketAssign = Callable[[int, str], Sequence[Effect]]
"""The effects that assign an item's ticket (if it has one) to a Slack user's Jira account."""
ResolvedFollowUps = Callable[[Feedback], Sequence[Effect]]
"""What follows an item's resolution (the root-cause prompt of an urgent item)."""


def owner_detail(how: str, owner: str | None = None, name: str | None = None) -> str:
    """The detail of an owner note: how it changed and to whom (read back by the renderer)."""
    return json.dumps({"how": how, "owner": owner, "name": name})


def read_owner_detail(detail: str) -> tuple[str, str | None, str | None]:
    """(how, Slack owner, owner's name) of an owner note's detail."""
    try:
        data = json.loads(detail)
    except ValueError:
        return "", None, None
    if not isinstance(data, dict):
        return "", None, None
    owner, name = data.get("owner"), data.get("name")
    return (
        str(data.get("how") or ""),
        str(owner) if owner else None,
        str(name) if name else None,
    )


def note_effect(feedback: Feedback, note: ThreadNote, tag: str) -> Effect:
    """Queue a note in the item's thread (once per tag)."""
    payload: dict[str, object] = {
        "feedback_id": feedback.id,
        "kind": note.kind.value,
        "detail": note.detail,
        "actor": note.actor,
        "at": note.at.isoformat() if note.at else None,
    }
    return Effect(NOTE, payload, f"{NOTE}:{feedback.id}:{tag}")


def refresh_effect(feedback: Feedback, tag: str) -> Effect:
    """Queue a re-render of the item's receipt (its owner line and buttons)."""
    return Effect(REFRESH, {"feedback_id": feedback.id}, f"{REFRESH}:{feedback.id}:{tag}")


class OwnerService:
    """Changes owners from Slack; only leads assign others and resolve."""

    def __init__(
        self,
        *,
        repo: OwnerRepository,
        program: Program,
        clock: Clock,
        ticket_assign: TicketAssign,
        on_resolved: ResolvedFollowUps,
        directory: Directory,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._directory = directory
        self._program = program
        self._clock = clock
        self._ticket_assign = ticket_assign
        self._on_resolved = on_resolved
        self._on_enqueued = on_enqueued

    def item_id(self, reference: str) -> int | None:
        """The number of an id like HC-42 (any case), or None."""
        return parse_reference(reference, self._program.id_prefix)

    def take(self, feedback_id: int, user: str) -> OwnerResult:
        """*Take it*: the presser owns the item (its ticket is assigned to them in Jira)."""
        return self._set(feedback_id, user, user)

    def assign(self, reference: str, owner: str, actor: str) -> OwnerResult:
        """`/hypercare assign HC-42 @someone`: a lead gives an item an owner."""
        if not self._program.is_lead(actor):
            return OwnerResult(OwnerOutcome.NOT_ALLOWED)
        feedback_id = self.item_id(reference)
        if feedback_id is None:
            return OwnerResult(OwnerOutcome.UNKNOWN)
        if self._directory.is_deactivated(owner):
            return OwnerResult(OwnerOutcome.DEACTIVATED)
        return self._set(feedback_id, owner, actor)

    def _set(self, feedback_id: int, owner: str, actor: str) -> OwnerResult:
        now = self._clock()
        how = "took" if owner == actor else "assigned"
        tag = f"{owner}:{now:%Y%m%dT%H%M%S%f}"

        def effects(feedback: Feedback) -> list[Effect]:
            note = ThreadNote(NoteKind.OWNER, owner_detail(how, owner), actor, now)
            return [
                note_effect(feedback, note, tag),
                refresh_effect(feedback, tag),
                *self._ticket_assign(feedback.id, owner),
            ]

        result = self._repo.set_owner(feedback_id, owner, actor, now, effects)
        log.info("owner of %s: %s (%s)", feedback_id, result.outcome.value, how)
        if result.outcome is OwnerOutcome.DONE:
            self._on_enqueued()
        return result

    def resolve(self, feedback_id: int, actor: str) -> OwnerResult:
        """*Resolve* on a receipt: a lead closes the item from Slack."""
        if not self._program.is_lead(actor):
            return OwnerResult(OwnerOutcome.NOT_ALLOWED)
        now = self._clock()
        tag = f"resolved:{now:%Y%m%dT%H%M%S%f}"

        def effects(feedback: Feedback) -> list[Effect]:
            note = ThreadNote(NoteKind.RESOLVED, "", actor, now)
            return [
                note_effect(feedback, note, tag),
                refresh_effect(feedback, tag),
                *self._on_resolved(feedback),
            ]

        result = self._repo.resolve(feedback_id, actor, now, effects)
        if result.outcome is OwnerOutcome.DONE:
            log.info("%s resolved from Slack", feedback_id)
            self._on_enqueued()
        return result

    def mine(self, user: str, limit: int = 10) -> list[Feedback]:
        """A person's open items, oldest first."""
        return self._repo.owned_by(user, limit)


class OwnerAnnouncer:
    """Carries out the owner notes and receipt refreshes queued above."""

    def __init__(self, *, feedback: FeedbackRepository, notifier: Notifier) -> None:
        self._feedback = feedback
        self._notifier = notifier

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {NOTE: self.note, REFRESH: self.refresh}

    def note(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post the note in the item's thread."""
        feedback = feedback_of(self._feedback, payload)
        at = payload.get("at")
        note = ThreadNote(
            NoteKind(str(payload["kind"])),
            str(payload.get("detail") or ""),
            str(payload["actor"]) if payload.get("actor") else None,
            dt.datetime.fromisoformat(at) if isinstance(at, str) else None,
        )
        self._notifier.note_in_thread(feedback, note)
        return []

    def refresh(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Re-render the receipt in place."""
        self._notifier.refresh_receipt(feedback_of(self._feedback, payload))
        return []
