"""Claims of scheduled runs: each (job, slot) happens once, however many replicas tick."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Effect
from storage.models import JobRunRow
from storage.repositories import queue_effects


class JobRuns:
    """Claims a run slot and queues its effects in one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(self, job: str, slot: str, now: dt.datetime, effects: Sequence[Effect]) -> bool:
        """Claim a slot and queue what it does; False when another run had claimed it."""
        try:
            with self._sessions.begin() as session:
                session.add(JobRunRow(job=job[:100], slot=slot[:100], claimed_at=now))
                session.flush()  # the unique (job, slot) says whether we are first
                queue_effects(session, effects, now)
            return True
        except IntegrityError:
            return False
