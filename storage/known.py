"""Known issues: items a lead marked with a workaround, listed, retired, shown in the form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Effect, Feedback, KnownIssue, KnownOutcome
from storage.db import among
from storage.models import AuditRow, FeedbackRow, ReporterRow
from storage.repositories import feedback_from_row, queue_effects


@dataclass(frozen=True)
class ItemFacts:
    """What the form's suggestions need beyond the search: merged? known, with what?"""

    merged: bool
    reporters: int
    workaround: str | None


_KNOWN = FeedbackRow.known_workaround.is_not(None)


class KnownIssueRepository:
    """Stores known issues and answers what the form and the lists need of them."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def facts(self, feedback_ids: Collection[int]) -> dict[int, ItemFacts]:
        """Merged or not, reporters and workaround of each item, in one query."""
        if not feedback_ids:
            return {}
        with self._sessions() as session:
            query = select(
                FeedbackRow.id,
                FeedbackRow.merged_into_id,
                FeedbackRow.reporters,
                FeedbackRow.known_workaround,
            ).where(among(session, FeedbackRow.id, feedback_ids))
            return {
                int(row[0]): ItemFacts(row[1] is not None, int(row[2]), row[3])
                for row in session.execute(query)
            }

    def mark(
        self,
        feedback_id: int,
        workaround: str | None,
        actor: str,
        now: dt.datetime,
        effects: Callable[[Feedback], Sequence[Effect]],
    ) -> tuple[KnownOutcome, Feedback | None]:
        """Mark an item as known with its workaround, replace it, or (None) retire it."""
        with self._sessions.begin() as session:
            row = session.get(FeedbackRow, feedback_id, with_for_update=True)
            if row is None:
                return KnownOutcome.UNKNOWN, None
            if row.merged_into_id is not None:
                return KnownOutcome.MERGED, feedback_from_row(row, self._prefix)
            if workaround is None:
                if row.known_workaround is None:
                    return KnownOutcome.NOT_KNOWN, feedback_from_row(row, self._prefix)
                outcome, action = KnownOutcome.RETIRED, "known_retired"
            else:
                known = row.known_workaround is not None
                outcome = KnownOutcome.UPDATED if known else KnownOutcome.MARKED
                action = "known"
            detail = {"workaround": workaround} if workaround is not None else {}
            row.known_workaround = workaround
            row.known_by, row.known_at = (actor, now) if workaround is not None else (None, None)
            row.updated_at = now
            session.add(
                AuditRow(feedback_id=row.id, actor_id=actor, action=action, detail=detail, at=now)
            )
            session.flush()
            feedback = feedback_from_row(row, self._prefix)
            queue_effects(session, effects(feedback), now)
            return outcome, feedback

    def live(self, limit: int, since: dt.datetime | None = None) -> list[KnownIssue]:
        """Known issues, most reported first; with `since`, most +1s since then first."""
        new = (
            select(func.count())
            .where(ReporterRow.feedback_id == FeedbackRow.id)
            .where(ReporterRow.at > since if since is not None else ReporterRow.id.is_(None))
            .correlate(FeedbackRow)
            .scalar_subquery()
        )
        order = [FeedbackRow.reporters.desc(), FeedbackRow.id]
        if since is not None:
            order.insert(0, new.desc())
        query = (
            select(FeedbackRow, new)
            .where(_KNOWN, FeedbackRow.merged_into_id.is_(None))
            .order_by(*order)
            .limit(limit)
        )
        with self._sessions() as session:
            return [
                KnownIssue(feedback_from_row(row, self._prefix), int(count or 0))
                for row, count in session.execute(query)
            ]

    def count(self) -> int:
        """How many known issues there are."""
        with self._sessions() as session:
            query = select(func.count()).select_from(FeedbackRow).where(_KNOWN)
            return int(session.scalar(query) or 0)
