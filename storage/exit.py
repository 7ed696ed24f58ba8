"""What only the closing report reads: the items open at one instant, in full."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Feedback
from storage.models import FeedbackRow
from storage.repositories import feedback_from_row


class ExitQueries:
    """Reads the open items the closing report hands over."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def open_at(self, now: dt.datetime, limit: int) -> tuple[list[Feedback], int]:
        """Feedback open at `now` (created by then, not resolved by then: a merged item was
        resolved when merged), oldest first, at most `limit` of them; and how many there are.

        As `storage.kpis` counts them, so the list and the KPIs agree at any `now`: the two
        halves of "open" are read with `UNION ALL`, each one range of a resolved_at index.
        """
        f = FeedbackRow
        halves = union_all(
            select(f.id).where(f.resolved_at.is_(None), f.created_at <= now),
            select(f.id).where(f.resolved_at > now, f.created_at <= now),
        ).subquery()
        rows = (
            select(f).where(f.id.in_(select(halves.c.id))).order_by(f.created_at, f.id).limit(limit)
        )
        with self._sessions() as session:
            total = int(session.scalar(select(func.count()).select_from(halves)) or 0)
            return [feedback_from_row(row, self._prefix) for row in session.scalars(rows)], total
