"""Root causes of resolved items, the items still owing one, and what a post-mortem reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import (
    AuditEvent,
    ClimbFacts,
    Effect,
    Feedback,
    FeedbackState,
    LinkedItem,
    PostmortemFacts,
    RootCause,
    RootCauseTheme,
)
from storage.alerts import _alert
from storage.intake import IntakeRepository
from storage.lessons import LessonRepository
from storage.models import AlertRow, AuditRow, EscalationRow, FeedbackRow, RootCauseRow
from storage.repositories import feedback_from_row, queue_effects


def _root_cause(row: RootCauseRow) -> RootCause:
    return RootCause(
        feedback_id=row.feedback_id,
        symptom=row.symptom,
        whys=tuple(str(w) for w in row.whys),
        category=row.category,
        fix=row.fix,
        prevention=row.prevention,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


class RootCauseRepository:
    """Stores root causes and reads the facts of post-mortems."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix
        self._reporters = IntakeRepository(sessions, id_prefix)
        self._lessons = LessonRepository(sessions, id_prefix)

    def record(
        self, cause: RootCause, effects: Callable[[Feedback], Sequence[Effect]]
    ) -> Feedback | None:
        """Store (or replace) an item's root cause, audited, and queue what follows."""
        now = cause.recorded_at
        with self._sessions.begin() as session:
            item = session.get(FeedbackRow, cause.feedback_id, with_for_update=True)
            if item is None:
                return None
            row = session.scalar(
                select(RootCauseRow).where(RootCauseRow.feedback_id == cause.feedback_id)
            )
            replaced = row is not None
            if row is None:
                row = RootCauseRow(feedback_id=cause.feedback_id)
                session.add(row)
            row.symptom, row.whys, row.category = cause.symptom, list(cause.whys), cause.category
            row.fix, row.prevention = cause.fix, cause.prevention
            row.recorded_by, row.recorded_at = cause.recorded_by, now
            detail = {"category": cause.category, "replaced": replaced}
            session.add(
                AuditRow(
                    feedback_id=item.id,
                    actor_id=cause.recorded_by,
                    action="root_cause",
                    detail=detail,
                    at=now,
                )
            )
            feedback = feedback_from_row(item, self._prefix)
            queue_effects(session, effects(feedback), now)
            return feedback

    def get(self, feedback_id: int) -> RootCause | None:
        """An item's root cause, if one was recorded."""
        with self._sessions() as session:
            row = session.scalar(
                select(RootCauseRow).where(RootCauseRow.feedback_id == feedback_id)
            )
            return _root_cause(row) if row else None

    def missing(
        self, severities: Collection[str], resolved_before: dt.datetime, limit: int
    ) -> list[Feedback]:
        """Resolved items of these severities without a root cause, resolved before the
        cut-off (merged items excluded: their root cause is their target's), oldest first."""
        has_one = select(RootCauseRow.id).where(RootCauseRow.feedback_id == FeedbackRow.id)
        query = (
            select(FeedbackRow)
            .where(
                FeedbackRow.state == FeedbackState.RESOLVED.value,
                FeedbackRow.severity.in_(list(severities)),
                FeedbackRow.merged_into_id.is_(None),
                FeedbackRow.resolved_at <= resolved_before,
                ~has_one.exists(),
            )
            .order_by(FeedbackRow.resolved_at)
            .limit(limit)
        )
        with self._sessions() as session:
            return [feedback_from_row(row, self._prefix) for row in session.scalars(query)]

    def themes(
        self, since: dt.datetime, until: dt.datetime, limit: int, per: int
    ) -> list[RootCauseTheme]:
        """The knowledge base's most frequent root-cause categories among items resolved in
        [since, until] (merged items are their target's), each with its latest items."""
        resolved = and_(
            FeedbackRow.state == FeedbackState.RESOLVED.value,
            FeedbackRow.merged_into_id.is_(None),
            FeedbackRow.resolved_at >= since,
            FeedbackRow.resolved_at <= until,
        )
        count = func.count(RootCauseRow.id).label("n")
        query = (
            select(RootCauseRow.category, count)
            .join(FeedbackRow, FeedbackRow.id == RootCauseRow.feedback_id)
            .where(resolved)
            .group_by(RootCauseRow.category)
            .order_by(count.desc(), RootCauseRow.category)
            .limit(limit)
        )
        themes = []
        with self._sessions() as session:
            for category, n in session.execute(query).all():
                recent = session.execute(
                    select(
                        FeedbackRow.id, FeedbackRow.receipt_permalink, FeedbackRow.known_workaround
                    )
                    .join(RootCauseRow, RootCauseRow.feedback_id == FeedbackRow.id)
                    .where(resolved, RootCauseRow.category == category)
                    .order_by(FeedbackRow.resolved_at.desc(), FeedbackRow.id.desc())
                    .limit(per)
                ).all()
                items = tuple(
                    LinkedItem(i, f"{self._prefix}-{i}", link, workaround)
                    for i, link, workaround in recent
                )
                themes.append(RootCauseTheme(str(category), int(n), items))
        return themes

    def facts(self, feedback_id: int, now: dt.datetime) -> PostmortemFacts | None:
        """Everything stored about an item that its post-mortem tells."""
        with self._sessions() as session:
            row = session.get(FeedbackRow, feedback_id)
            if row is None:
                return None
            feedback = feedback_from_row(row, self._prefix)
            events = tuple(
                AuditEvent(a.at, a.actor_id, a.action, dict(a.detail))
                for a in session.scalars(
                    select(AuditRow)
                    .where(AuditRow.feedback_id == feedback_id)
                    .order_by(AuditRow.id)
                )
            )
            merged = tuple(
                feedback_from_row(m, self._prefix)
                for m in session.scalars(
                    select(FeedbackRow)
                    .where(FeedbackRow.merged_into_id == feedback_id)
                    .order_by(FeedbackRow.id)
                )
            )
            climb_row = session.scalar(
                select(EscalationRow).where(
                    EscalationRow.item_kind == "feedback", EscalationRow.item_id == feedback_id
                )
            )
            climb = (
                ClimbFacts(
                    climb_row.started_at,
                    climb_row.ack_due,
                    climb_row.resolve_due,
                    climb_row.acknowledged_at,
                    climb_row.acknowledged_by,
                    climb_row.sla_breached_at,
                )
                if climb_row
                else None
            )
            end = row.resolved_at or now
            # Alerts of the same window: fired while the item was open, or resolved then.
            alerts = tuple(
                _alert(a)
                for a in session.scalars(
                    select(AlertRow)
                    .where(
                        or_(
                            and_(AlertRow.fired_at >= row.created_at, AlertRow.fired_at <= end),
                            and_(
                                AlertRow.resolved_at >= row.created_at, AlertRow.resolved_at <= end
                            ),
                        )
                    )
                    .order_by(AlertRow.fired_at)
                    .limit(50)
                )
            )
        return PostmortemFacts(
            feedback=feedback,
            root_cause=self.get(feedback_id),
            events=events,
            reporters=tuple(self._reporters.reporters(feedback_id)),
            merged=merged,
            climb=climb,
            alerts=alerts,
            lessons=tuple(self._lessons.of_item(feedback_id)),
        )
