"""The similar-report lookup: the database's candidates, re-ranked and cut at the threshold."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from bot.domain import SimilarCandidate
from bot.feedback.program import SimilarProgram
from bot.feedback.similarity import SimilarMatch, rank, similar_query
from bot.ports import Clock
from storage.similar import find_similar


class SimilarReports:
    """Finds the stored reports that look like the one being typed."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        program: SimilarProgram,
        clock: Clock,
        keep: Callable[[Sequence[SimilarCandidate]], Sequence[SimilarCandidate]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._program = program
        self._clock = clock
        # Which candidates may be shown, and what else they carry (merged items go, known
        # issues get their workaround): applied before the re-rank so `show` counts only them.
        self._keep = keep

    def find(
        self,
        summary: str,
        happened: str = "",
        component: str | None = None,
        endpoint: str | None = None,
        category: str | None = None,
        severity: str | None = None,
    ) -> list[SimilarMatch]:
        """Up to `show` stored reports scoring at least the threshold, best first.

        `category` and `severity`, when the reporter has picked them, count as signs too.
        """
        if not self._program.enabled:
            return []
        query = similar_query(
            summary,
            happened,
            component,
            endpoint,
            self._program,
            self._clock(),
            category=category,
            severity=severity,
        )
        with self._sessions() as session:
            candidates: Sequence[SimilarCandidate] = find_similar(
                session, query, self._program.candidates
            )
        if self._keep is not None:
            candidates = self._keep(candidates)
        return rank(query, candidates, self._program)
