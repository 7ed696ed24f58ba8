"""Owners of items (taken in Slack, assigned by a lead, or the Jira assignee) and a lead's
resolution from Slack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Effect, Feedback, FeedbackState, OwnerOutcome, OwnerResult
from storage.models import AuditRow, FeedbackRow
from storage.repositories import feedback_from_row, queue_effects

EffectsFor = Callable[[Feedback], Sequence[Effect]]


class OwnerRepository:
    """Records who owns an item, in transactions that also queue what follows."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def _audit(
        self, session: Session, row: FeedbackRow, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        now = row.updated_at
        session.add(
            AuditRow(feedback_id=row.id, actor_id=actor, action=action, detail=detail, at=now)
        )

    def set_owner(
        self,
        feedback_id: int,
        owner_id: str,
        actor: str,
        now: dt.datetime,
        effects: EffectsFor,
    ) -> OwnerResult:
        """Make a Slack user the owner of an open item (taken, or assigned by a lead)."""
        with self._sessions.begin() as session:
            row = session.get(FeedbackRow, feedback_id, with_for_update=True)
            if row is None:
                return OwnerResult(OwnerOutcome.UNKNOWN)
            if row.state == FeedbackState.RESOLVED.value or row.merged_into_id is not None:
                return OwnerResult(OwnerOutcome.CLOSED, feedback_from_row(row, self._prefix))
            if row.owner_id == owner_id:
                return OwnerResult(OwnerOutcome.ALREADY, feedback_from_row(row, self._prefix))
            before = row.owner_id or row.owner_name
            # owner_ref stays: it names the Jira assignee until the bot's own assignment
            # replaces it, so the poll never mistakes the old assignee for a change.
            row.owner_id, row.owner_name, row.owner_at, row.updated_at = owner_id, None, now, now
            action = "taken" if actor == owner_id else "assigned"
            self._audit(session, row, actor, action, {"owner": owner_id, "from": before})
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return OwnerResult(OwnerOutcome.DONE, feedback)

    def apply_assignee(
        self,
        key: str,
        ref: str | None,
        owner: tuple[str | None, str | None],
        actor: str,
        now: dt.datetime,
        effects: EffectsFor,
    ) -> Feedback | None:
        """Record the Jira assignee `ref` (None: unassigned) of a ticket as the item's owner
        (a Slack user, or a name); None when it is not ours or nothing changed."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(FeedbackRow).where(FeedbackRow.ticket_key == key).with_for_update()
            )
            if row is None or row.owner_ref == ref:
                return None
            before = row.owner_id or row.owner_name
            row.owner_ref, row.updated_at = ref, now
            row.owner_id, row.owner_name = owner
            row.owner_at = now
            detail = {"owner": owner[0] or owner[1], "from": before, "jira": ref, "key": key}
            self._audit(session, row, actor, "jira_assigned", detail)
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def record_assignment(self, feedback_id: int, owner_id: str, ref: str) -> bool:
        """Remember that Jira now assigns the item to `ref`, the account of its owner; False
        when the owner changed meanwhile (a newer assignment follows)."""
        with self._sessions.begin() as session:
            row = session.get_one(FeedbackRow, feedback_id, with_for_update=True)
            if row.owner_id != owner_id:
                return False
            row.owner_ref = ref
            return True

    def resolve(
        self, feedback_id: int, actor: str, now: dt.datetime, effects: EffectsFor
    ) -> OwnerResult:
        """Resolve an open item from Slack (a lead's *Resolve*), and queue what follows."""
        with self._sessions.begin() as session:
            row = session.get(FeedbackRow, feedback_id, with_for_update=True)
            if row is None:
                return OwnerResult(OwnerOutcome.UNKNOWN)
            if row.state == FeedbackState.RESOLVED.value:
                return OwnerResult(OwnerOutcome.ALREADY, feedback_from_row(row, self._prefix))
            row.state, row.resolved_at, row.updated_at = FeedbackState.RESOLVED.value, now, now
            self._audit(session, row, actor, "resolved", {})
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return OwnerResult(OwnerOutcome.DONE, feedback)

    def owned_by(self, user: str, limit: int = 10) -> list[Feedback]:
        """A person's open items, oldest first (their Home tab)."""
        query = (
            select(FeedbackRow)
            .where(FeedbackRow.owner_id == user, FeedbackRow.state != FeedbackState.RESOLVED.value)
            .order_by(FeedbackRow.created_at)
            .limit(limit)
        )
        with self._sessions() as session:
            return [feedback_from_row(row, self._prefix) for row in session.scalars(query)]
