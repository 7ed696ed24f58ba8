"""The lessons-learned register: lessons with the items they name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Lesson, LessonDraft, LessonKind, LinkedItem
from storage.models import FeedbackRow, LessonItemRow, LessonRow


class LessonRepository:
    """Stores lessons and reads them back, newest first."""

    def __init__(self, sessions: sessionmaker[Session], id_prefix: str) -> None:
        self._sessions = sessions
        self._prefix = id_prefix

    def existing(self, feedback_ids: Collection[int]) -> set[int]:
        """Which of these items exist."""
        if not feedback_ids:
            return set()
        query = select(FeedbackRow.id).where(FeedbackRow.id.in_(list(feedback_ids)))
        with self._sessions() as session:
            return {int(i) for i in session.scalars(query)}

    def add(self, draft: LessonDraft, now: dt.datetime) -> Lesson:
        """Store a lesson and its links (the items were checked to exist)."""
        with self._sessions.begin() as session:
            row = LessonRow(
                kind=draft.kind.value, text=draft.text, author_id=draft.author_id, created_at=now
            )
            session.add(row)
            session.flush()
            session.add_all(
                LessonItemRow(lesson_id=row.id, feedback_id=i)
                for i in dict.fromkeys(draft.item_ids)
            )
            session.flush()
            return self._lessons(session, [row])[0]

    def latest(self, limit: int) -> tuple[list[Lesson], int]:
        """The newest lessons, and how many there are in all."""
        return self._page(true(), limit)

    def between(
        self, since: dt.datetime, until: dt.datetime, limit: int
    ) -> tuple[list[Lesson], int]:
        """Lessons recorded in (since, until], newest first, and how many there were."""
        period = (LessonRow.created_at > since) & (LessonRow.created_at <= until)
        return self._page(period, limit)

    def of_item(self, feedback_id: int, limit: int = 50) -> list[Lesson]:
        """The lessons that name an item, oldest first (as a post-mortem tells them)."""
        named = select(LessonItemRow.lesson_id).where(LessonItemRow.feedback_id == feedback_id)
        query = select(LessonRow).where(LessonRow.id.in_(named)).order_by(LessonRow.id).limit(limit)
        with self._sessions() as session:
            return self._lessons(session, list(session.scalars(query)))

    def _page(self, where: ColumnElement[bool], limit: int) -> tuple[list[Lesson], int]:
        query = select(LessonRow).where(where).order_by(LessonRow.id.desc()).limit(limit)
        with self._sessions() as session:
            total = int(session.scalar(select(func.count(LessonRow.id)).where(where)) or 0)
            return self._lessons(session, list(session.scalars(query))), total

    def _lessons(self, session: Session, rows: list[LessonRow]) -> list[Lesson]:
        """Lessons with their linked items, read in one query."""
        links: dict[int, list[LinkedItem]] = {row.id: [] for row in rows}
        if rows:
            query = (
                select(LessonItemRow.lesson_id, FeedbackRow.id, FeedbackRow.receipt_permalink)
                .join(FeedbackRow, FeedbackRow.id == LessonItemRow.feedback_id)
                .where(LessonItemRow.lesson_id.in_(list(links)))
                .order_by(LessonItemRow.lesson_id, FeedbackRow.id)
            )
            for lesson_id, feedback_id, link in session.execute(query):
                links[lesson_id].append(
                    LinkedItem(feedback_id, f"{self._prefix}-{feedback_id}", link)
                )
        return [
            Lesson(
                id=row.id,
                kind=LessonKind(row.kind),
                text=row.text,
                author_id=row.author_id,
                created_at=row.created_at,
                items=tuple(links[row.id]),
            )
            for row in rows
        ]
