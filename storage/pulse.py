"""The user pulse: pulses sent, one answer per person per pulse, and satisfaction figures.

The read API others use (the exit report, readiness, the weekly review) is `satisfaction` and
`weekly_satisfaction`; an answer counts in the period of its first answer, with its latest score.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import (
    Effect,
    Pulse,
    PulseAnswer,
    PulseAudience,
    Satisfaction,
    SatisfactionWeek,
)
from storage.models import FeedbackRow, PulseAnswerRow, PulseRow, ReporterRow
from storage.repositories import queue_effects

WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class NewPulse:
    """What a pulse about to be sent is: the service decided all of it."""

    key: str
    question: str
    audience: PulseAudience
    channel_id: str | None
    recipients: tuple[str, ...]  # the people DMed (reporters); empty for a channel pulse
    created_by: str | None
    created_at: dt.datetime
    closes_at: dt.datetime


@dataclass(frozen=True)
class Vote:
    """What became of a press of a number: the answer as stored and the score it replaced."""

    pulse: Pulse
    answer: PulseAnswer
    previous: int | None  # None: the first answer of this person to this pulse


def _pulse(row: PulseRow) -> Pulse:
    return Pulse(
        id=row.id,
        key=row.key,
        question=row.question,
        audience=PulseAudience(row.audience),
        channel_id=row.channel_id,
        recipients=row.recipients,
        created_by=row.created_by,
        created_at=row.created_at,
        closes_at=row.closes_at,
    )


def _answer(row: PulseAnswerRow) -> PulseAnswer:
    return PulseAnswer(
        pulse_id=row.pulse_id,
        user_id=row.user_id,
        score=row.score,
        comment=row.comment,
        answered_at=row.answered_at,
        updated_at=row.updated_at,
    )


class PulseRepository:
    """Stores pulses and answers, and reads satisfaction back."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- pulses ---------------------------------------------------------------------------------

    def reporters(self, since: dt.datetime, until: dt.datetime) -> list[str]:
        """Who filed a report, or added themselves to one (+1), in (since, until], each once."""
        first = select(FeedbackRow.reporter_id).where(
            FeedbackRow.created_at > since, FeedbackRow.created_at <= until
        )
        later = select(ReporterRow.reporter_id).where(
            ReporterRow.at > since, ReporterRow.at <= until
        )
        with self._sessions() as session:
            people = set(session.scalars(first)) | set(session.scalars(later))
        return sorted(people)

    def create(self, new: NewPulse, effects: Callable[[Pulse], Sequence[Effect]]) -> Pulse | None:
        """Store a pulse, close the ones still open, and queue its posts, in one transaction.

        None when a pulse with the same key exists: another replica (or an earlier run) sent it.
        A pulse that asks nobody (no reporters this week) is kept, so its slot is not tried
        again, but closes nothing.
        """
        try:
            with self._sessions.begin() as session:
                row = PulseRow(
                    key=new.key[:100],
                    question=new.question,
                    audience=new.audience.value,
                    channel_id=new.channel_id,
                    recipients=len(new.recipients),
                    created_by=new.created_by,
                    created_at=new.created_at,
                    closes_at=new.closes_at,
                )
                session.add(row)
                session.flush()  # the unique key says whether we are first
                pulse = _pulse(row)
                asks = new.audience is PulseAudience.CHANNEL or new.recipients
                if asks:
                    session.execute(
                        update(PulseRow)
                        .where(PulseRow.id != row.id, PulseRow.closes_at > new.created_at)
                        .values(closes_at=new.created_at)
                    )
                queue_effects(session, effects(pulse), new.created_at)
                return pulse
        except IntegrityError:
            return None

    def exists(self, key: str) -> bool:
        """Whether a pulse with this key was sent (a scheduled slot taken)."""
        with self._sessions() as session:
            return session.scalar(select(PulseRow.id).where(PulseRow.key == key[:100])) is not None

    def get(self, pulse_id: int) -> Pulse | None:
        """One pulse."""
        with self._sessions() as session:
            row = session.get(PulseRow, pulse_id)
            return _pulse(row) if row is not None else None

    def latest(self) -> Pulse | None:
        """The pulse sent last, if any."""
        query = select(PulseRow).order_by(PulseRow.created_at.desc(), PulseRow.id.desc()).limit(1)
        with self._sessions() as session:
            row = session.scalar(query)
            return _pulse(row) if row is not None else None

    # -- answers --------------------------------------------------------------------------------

    def answer(self, pulse_id: int, user_id: str) -> PulseAnswer | None:
        """A person's answer to a pulse, if they gave one."""
        query = select(PulseAnswerRow).where(
            PulseAnswerRow.pulse_id == pulse_id, PulseAnswerRow.user_id == user_id
        )
        with self._sessions() as session:
            row = session.scalar(query)
            return _answer(row) if row is not None else None

    def vote(
        self,
        pulse_id: int,
        user_id: str,
        score: int,
        now: dt.datetime,
        comment: str | None = None,
    ) -> Pulse | Vote | None:
        """Record or update a person's score (and comment, when given) while the pulse is open.

        None for an unknown pulse; the pulse itself when it had closed at `now` (nothing is
        stored). The pulse's row is locked first, so two presses of one person, or a newer pulse
        closing this one, are taken one after the other.
        """
        with self._sessions.begin() as session:
            row = session.get(PulseRow, pulse_id, with_for_update=True)
            if row is None:
                return None
            pulse = _pulse(row)
            if not pulse.is_open(now):
                return pulse
            stored = session.scalar(
                select(PulseAnswerRow)
                .where(PulseAnswerRow.pulse_id == pulse_id, PulseAnswerRow.user_id == user_id)
                .with_for_update()
            )
            previous = stored.score if stored is not None else None
            if stored is None:
                stored = PulseAnswerRow(
                    pulse_id=pulse_id,
                    user_id=user_id,
                    score=score,
                    comment=comment,
                    answered_at=now,
                    updated_at=now,
                )
                session.add(stored)
            else:
                stored.score, stored.updated_at = score, now
                if comment is not None:
                    stored.comment = comment
            session.flush()
            return Vote(pulse, _answer(stored), previous)

    def comments(
        self, since: dt.datetime, until: dt.datetime, limit: int
    ) -> tuple[list[PulseAnswer], int]:
        """Answers with a comment first given in (since, until], newest first, and how many."""
        where = (
            PulseAnswerRow.answered_at > since,
            PulseAnswerRow.answered_at <= until,
            PulseAnswerRow.comment.is_not(None),
        )
        query = (
            select(PulseAnswerRow)
            .where(*where)
            .order_by(PulseAnswerRow.updated_at.desc(), PulseAnswerRow.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            total = int(session.scalar(select(func.count(PulseAnswerRow.id)).where(*where)) or 0)
            return [_answer(row) for row in session.scalars(query)], total

    # -- the read API ---------------------------------------------------------------------------

    def _scores(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int, bool]]:
        query = select(
            PulseAnswerRow.answered_at, PulseAnswerRow.score, PulseAnswerRow.comment.is_not(None)
        ).where(PulseAnswerRow.answered_at > start, PulseAnswerRow.answered_at <= end)
        with self._sessions() as session:
            return [
                (at, int(score), bool(commented)) for at, score, commented in session.execute(query)
            ]

    def satisfaction(self, start: dt.datetime, end: dt.datetime) -> Satisfaction:
        """The answers first given in (start, end]: responses, CSAT (share of 4 and 5), mean."""
        rows = self._scores(start, end)
        return Satisfaction.of([score for _, score, _ in rows], sum(c for _, _, c in rows))

    def weekly_satisfaction(self, start: dt.datetime, end: dt.datetime) -> list[SatisfactionWeek]:
        """The answers of (start, end] in weeks of seven days from `start`, oldest first (the
        last may be shorter; an answer on a boundary counts in the week it ends); an empty week
        is listed with no figures.

        Weeks follow `start`'s own time zone: given a local midnight in the program's zone, each
        week starts at a local midnight, daylight-saving changes included (aware datetimes add
        days on the wall clock), and `week_start` is its local date.
        """
        if end <= start:
            return []
        starts = [start]
        while starts[-1] + WEEK < end:
            starts.append(starts[-1] + WEEK)
        scores: list[list[int]] = [[] for _ in starts]
        bounds = [s.astimezone(dt.UTC) for s in starts]
        for at, score, _ in self._scores(start, end):
            scores[max(0, bisect.bisect_left(bounds, at) - 1)].append(score)
        weeks = []
        for week_start, week in zip(starts, scores, strict=True):
            figures = Satisfaction.of(week)
            weeks.append(
                SatisfactionWeek(
                    week_start.date(), figures.responses, figures.csat_percent, figures.mean
                )
            )
        return weeks
