"""Several reporters per item: a "+1" joins an item, a lead's merge moves one into another.

Each method is one transaction that changes the rows and queues what must follow (the thread
note, the Jira comment, the confirmation), so a +1 is announced exactly once or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import (
    Effect,
    Feedback,
    FeedbackState,
    MergeOutcome,
    MergeResult,
    PlusOne,
    PlusOneOutcome,
    PlusOneResult,
    UsersAffected,
    reach_of,
)
from storage.models import AuditRow, FeedbackRow, ReporterRow
from storage.repositories import feedback_from_row, queue_effects

# A reporter row's reach, in SQL: the same numbers as bot.domain.reach_of.
_REACH_SQL = case(
    *((ReporterRow.users_affected == band.value, reach_of(band)) for band in UsersAffected),
    else_=1,
)

# How far a chain of merges is followed (A into B into C…): merges refuse a merged target, so
# chains are one step long; the bound only keeps a damaged database from looping.
_CHAIN_MAX = 20


def _users(value: str | None) -> UsersAffected | None:
    return UsersAffected(value) if value and value in UsersAffected._value2member_map_ else None


def _entry(row: ReporterRow, moved_from: str | None = None) -> PlusOne:
    return PlusOne(
        reporter_id=row.reporter_id,
        environment=row.environment,
        correlation_id=row.correlation_id,
        users_affected=_users(row.users_affected),
        text=row.text,
        at=row.at,
        moved_from=moved_from,
    )


class IntakeRepository:
    """Stores the reporters of items, and merges."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def _feedback(self, row: FeedbackRow) -> Feedback:
        return feedback_from_row(row, self._prefix)

    def _locked(self, session: Session, feedback_id: int) -> FeedbackRow | None:
        # FOR UPDATE on PostgreSQL: two +1s at once both count; SQLite writes one at a time.
        return session.get(FeedbackRow, feedback_id, with_for_update=True)

    def _final(self, session: Session, row: FeedbackRow) -> FeedbackRow:
        """The item a merged one lives on in (the end of its merge chain)."""
        for _ in range(_CHAIN_MAX):
            if row.merged_into_id is None:
                break
            following = session.get(FeedbackRow, row.merged_into_id)
            if following is None:
                break
            row = following
        return row

    def plus_one(
        self,
        feedback_id: int,
        entry: PlusOne,
        effects: Callable[[Feedback, int], Sequence[Effect]],
    ) -> PlusOneResult:
        """Add a reporter to an open item and queue `effects(item, reporter row id)`."""
        with self._sessions.begin() as session:
            row = self._locked(session, feedback_id)
            if row is None:
                return PlusOneResult(PlusOneOutcome.UNKNOWN)
            if row.merged_into_id is not None:
                final = self._final(session, row)
                return PlusOneResult(
                    PlusOneOutcome.MERGED, self._feedback(row), self._feedback(final)
                )
            if row.state == FeedbackState.RESOLVED.value:
                return PlusOneResult(PlusOneOutcome.RESOLVED, self._feedback(row))
            if row.reporter_id == entry.reporter_id:
                return PlusOneResult(PlusOneOutcome.ALREADY, self._feedback(row))
            reporter = ReporterRow(
                feedback_id=row.id,
                reporter_id=entry.reporter_id,
                environment=entry.environment,
                correlation_id=entry.correlation_id,
                users_affected=entry.users_affected.value if entry.users_affected else None,
                text=entry.text,
                at=entry.at,
            )
            try:
                with session.begin_nested():
                    session.add(reporter)
                    session.flush()
            except IntegrityError:  # this person +1'd it already (a double click included)
                return PlusOneResult(PlusOneOutcome.ALREADY, self._feedback(row))
            row.reporters += 1
            row.reach += reach_of(entry.users_affected)
            row.updated_at = entry.at
            session.add(
                AuditRow(
                    feedback_id=row.id,
                    actor_id=entry.reporter_id,
                    action="plus_one",
                    detail={"reporter": reporter.id},
                    at=entry.at,
                )
            )
            session.flush()
            feedback = self._feedback(row)
            queue_effects(session, effects(feedback, reporter.id), entry.at)
            return PlusOneResult(PlusOneOutcome.ADDED, feedback)

    def reporter(self, reporter_row_id: int) -> PlusOne | None:
        """One later reporter of an item, with where a merge moved them from."""
        with self._sessions() as session:
            row = session.get(ReporterRow, reporter_row_id)
            if row is None:
                return None
            moved = f"{self._prefix}-{row.moved_from_id}" if row.moved_from_id else None
            return _entry(row, moved)

    def reporters(self, feedback_id: int) -> list[PlusOne]:
        """Every later reporter of an item, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ReporterRow)
                .where(ReporterRow.feedback_id == feedback_id)
                .order_by(ReporterRow.at, ReporterRow.id)
            )
            return [
                _entry(r, f"{self._prefix}-{r.moved_from_id}" if r.moved_from_id else None)
                for r in rows
            ]

    def open_items(self, limit: int = 5000) -> list[Feedback]:
        """The open items (merged ones are resolved), oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(FeedbackRow)
                .where(FeedbackRow.state != FeedbackState.RESOLVED.value)
                .order_by(FeedbackRow.created_at, FeedbackRow.id)
                .limit(limit)
            )
            return [self._feedback(row) for row in rows]

    def merge(
        self,
        source_id: int,
        target_id: int,
        actor: str,
        now: dt.datetime,
        effects: Callable[[Feedback, Feedback], Sequence[Effect]],
    ) -> MergeResult:
        """Move the source's reporters to the target and close the source as merged there."""
        if source_id == target_id:
            return MergeResult(MergeOutcome.SAME)
        with self._sessions.begin() as session:
            # Lock in id order: two merges of the same pair never wait on each other in a ring.
            first, second = sorted((source_id, target_id))
            rows = {i: self._locked(session, i) for i in (first, second)}
            source, target = rows[source_id], rows[target_id]
            if source is None or target is None:
                return MergeResult(MergeOutcome.UNKNOWN)
            if source.merged_into_id is not None:
                return MergeResult(
                    MergeOutcome.ALREADY, self._feedback(source), self._feedback(target)
                )
            if self._final(session, target).id == source.id:
                return MergeResult(
                    MergeOutcome.CYCLE, self._feedback(source), self._feedback(target)
                )
            if target.merged_into_id is not None:
                return MergeResult(
                    MergeOutcome.TARGET_MERGED,
                    self._feedback(source),
                    self._feedback(self._final(session, target)),
                )
            self._move_reporters(session, source, target)
            source.merged_into_id = target.id
            if source.state != FeedbackState.RESOLVED.value:
                # Closed here, counted there: open lists, KPIs and escalation let it go.
                source.state = FeedbackState.RESOLVED.value
                source.resolved_at = now
            source.updated_at = target.updated_at = now
            detail = {"from": source.id, "into": target.id}
            for row_id, action in ((source.id, "merged_into"), (target.id, "merged_from")):
                session.add(
                    AuditRow(
                        feedback_id=row_id, actor_id=actor, action=action, detail=detail, at=now
                    )
                )
            session.flush()
            merged, into = self._feedback(source), self._feedback(target)
            queue_effects(session, effects(merged, into), now)
            resolved = target.state == FeedbackState.RESOLVED.value
            outcome = MergeOutcome.MERGED_INTO_RESOLVED if resolved else MergeOutcome.MERGED
            return MergeResult(outcome, merged, into)

    def _move_reporters(self, session: Session, source: FeedbackRow, target: FeedbackRow) -> None:
        """The source's first reporter and its +1s become the target's, each person once."""
        present = {target.reporter_id} | set(
            session.scalars(
                select(ReporterRow.reporter_id).where(ReporterRow.feedback_id == target.id)
            )
        )
        if source.reporter_id not in present:
            text = f"{source.summary}\n{source.actual}".strip()
            session.add(
                ReporterRow(
                    feedback_id=target.id,
                    reporter_id=source.reporter_id,
                    environment=source.environment,
                    correlation_id=source.correlation_id,
                    users_affected=source.users_affected,
                    text=text,
                    at=source.created_at,
                    moved_from_id=source.id,
                )
            )
            present.add(source.reporter_id)
        for row in session.scalars(
            select(ReporterRow).where(ReporterRow.feedback_id == source.id)
        ).all():
            if row.reporter_id in present:
                continue
            present.add(row.reporter_id)
            row.feedback_id, row.moved_from_id = target.id, row.moved_from_id or source.id
        session.flush()
        # The totals from the rows themselves: a merge never counts a person twice.
        later = session.execute(
            select(func.count(), func.coalesce(func.sum(_REACH_SQL), 0)).where(
                ReporterRow.feedback_id == target.id
            )
        ).one()
        target.reporters = 1 + int(later[0])
        target.reach = reach_of(_users(target.users_affected)) + int(later[1])
