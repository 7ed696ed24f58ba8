"""The ticket side of feedback: which Jira issue it has, its status, and inbound deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Effect, Feedback, FeedbackState, Ticket, TicketCategory
from storage.models import AuditRow, FeedbackRow, InboundRow
from storage.repositories import feedback_from_row, queue_effects

EffectsFor = Callable[[Feedback], Sequence[Effect]]


def _state_for(category: TicketCategory, current: str) -> str:
    """The feedback state a ticket status implies (acknowledged stays unless resolved)."""
    if category is TicketCategory.DONE:
        return FeedbackState.RESOLVED.value
    if current == FeedbackState.RESOLVED.value or current == FeedbackState.NEW.value:
        return FeedbackState.TICKETED.value
    return current


class TicketRepository:
    """Records tickets against feedback, in transactions that also queue what follows."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def _audit(
        self,
        session: Session,
        row: FeedbackRow,
        actor: str,
        action: str,
        detail: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        session.add(
            AuditRow(feedback_id=row.id, actor_id=actor, action=action, detail=detail, at=now)
        )

    def record_ticket(
        self, feedback_id: int, ticket: Ticket, now: dt.datetime, effects: EffectsFor
    ) -> Feedback:
        """Link a ticket to feedback (created or adopted) and queue its announcements."""
        with self._sessions.begin() as session:
            row = session.get_one(FeedbackRow, feedback_id, with_for_update=True)
            row.ticket_key, row.ticket_url = ticket.key, ticket.url
            row.ticket_status, row.ticket_category = ticket.status, ticket.category.value
            row.ticket_error = None
            row.state = _state_for(ticket.category, row.state)
            row.updated_at = now
            self._audit(session, row, "jira", "ticketed", {"key": ticket.key}, now)
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def record_duplicates(
        self,
        feedback_id: int,
        keeper: Ticket,
        duplicates: Sequence[str],
        now: dt.datetime,
        effects: EffectsFor,
    ) -> Feedback:
        """Make `keeper` the feedback's ticket if it has one of `duplicates` (or none), and
        queue what closes the duplicates; the row lock serialises replicas doing the same."""
        with self._sessions.begin() as session:
            row = session.get_one(FeedbackRow, feedback_id, with_for_update=True)
            if row.ticket_key in duplicates:
                before = row.ticket_key
                row.ticket_key, row.ticket_url = keeper.key, keeper.url
                row.ticket_status, row.ticket_category = keeper.status, keeper.category.value
                row.state = _state_for(keeper.category, row.state)
                row.updated_at = now
                detail = {"from": before, "to": keeper.key}
                self._audit(session, row, "jira", "ticket_deduplicated", detail, now)
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def record_failure(
        self, feedback_id: int, reason: str, now: dt.datetime, effects: EffectsFor
    ) -> Feedback:
        """Remember that Jira refused the ticket, and queue the note that says so."""
        with self._sessions.begin() as session:
            row = session.get_one(FeedbackRow, feedback_id, with_for_update=True)
            row.ticket_error, row.updated_at = reason[:2000], now
            self._audit(session, row, "jira", "ticket_refused", {"reason": reason[:500]}, now)
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def request(
        self, feedback_id: int, actor: str, now: dt.datetime, effects: EffectsFor
    ) -> Feedback | None:
        """Queue a ticket for feedback that has none; None when it already has one."""
        with self._sessions.begin() as session:
            row = session.get(FeedbackRow, feedback_id, with_for_update=True)
            if row is None or row.ticket_key is not None:
                return None
            row.ticket_error = None
            self._audit(session, row, actor, "ticket_requested", {}, now)
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def apply_status(
        self,
        key: str,
        status: str,
        category: TicketCategory,
        actor: str,
        at: dt.datetime,
        now: dt.datetime,
        effects: EffectsFor,
    ) -> Feedback | None:
        """Record a ticket's new status once; None when it is not ours or nothing changed."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(FeedbackRow).where(FeedbackRow.ticket_key == key).with_for_update()
            )
            if row is None or (row.ticket_status == status and row.ticket_category == category):
                return None
            if not row.ticket_status and row.ticket_category == category.value:
                # The first status heard of a new issue is no change: note it silently.
                row.ticket_status = status
                return None
            before = row.ticket_status
            row.ticket_status, row.ticket_category = status, category.value
            if row.merged_into_id is None:  # a merged item stays closed whatever its ticket does
                row.state = _state_for(category, row.state)
                row.resolved_at = at if category is TicketCategory.DONE else None
            row.updated_at = now
            self._audit(
                session,
                row,
                actor,
                "ticket_status",
                {"key": key, "from": before, "to": status, "at": at.isoformat()},
                now,
            )
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def by_ticket_key(self, key: str) -> Feedback | None:
        """Return the feedback a Jira issue belongs to."""
        with self._sessions() as session:
            row = session.scalar(select(FeedbackRow).where(FeedbackRow.ticket_key == key))
            return feedback_from_row(row, self._prefix) if row else None

    def take_inbound(self, source: str, key: str, now: dt.datetime) -> bool:
        """Remember a delivery; False when it was taken in before (a redelivery)."""
        try:
            with self._sessions.begin() as session:
                session.add(InboundRow(source=source, key=f"{source}:{key}"[:255], at=now))
            return True
        except IntegrityError:
            return False
