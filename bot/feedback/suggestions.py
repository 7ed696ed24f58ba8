"""Suggestions in the form: while a reporter types, the stored items that may be their problem.

The lookup runs after the ack, on its own thread; whatever it does (slow, failing) the form
must keep working, so a lookup that fails or takes too long gives no suggestions, never an
error for the reporter.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.domain import FeedbackState, SimilarCandidate, Suggestion
from bot.feedback.lookup import SimilarReports
from bot.ports import Clock
from storage.known import KnownIssueRepository

log = logging.getLogger(__name__)

# Past this the reporter has typed on or submitted: the answer would only flicker in late.
LOOKUP_BUDGET_SECONDS = 2.0


class SuggestionService:
    """Finds the open items and known issues that read like the report being typed."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        known: KnownIssueRepository,
        program: Program,
        clock: Clock,
    ) -> None:
        self._lookup = SimilarReports(sessions, program.similar, clock, keep=self.keep)
        self._known = known
        self._program = program

    def keep(self, candidates: Sequence[SimilarCandidate]) -> list[SimilarCandidate]:
        """Open items and live known issues, never merged ones, with reporters and workaround."""
        facts = self._known.facts([c.feedback_id for c in candidates])
        kept: list[SimilarCandidate] = []
        for candidate in candidates:
            fact = facts.get(candidate.feedback_id)
            if fact is None or fact.merged:
                continue
            if candidate.state is FeedbackState.RESOLVED and fact.workaround is None:
                continue
            kept.append(
                dataclasses.replace(
                    candidate,
                    reporters=fact.reporters,
                    known_issue=fact.workaround is not None,
                    workaround=fact.workaround,
                )
            )
        return kept

    def suggest(
        self,
        summary: str,
        happened: str = "",
        component: str | None = None,
        endpoint: str | None = None,
        category: str | None = None,
        severity: str | None = None,
    ) -> list[Suggestion]:
        """The best matches, best first; [] when there are none, or the lookup failed or lagged."""
        if not summary.strip():
            return []
        started = time.monotonic()
        try:
            matches = self._lookup.find(
                summary, happened, component, endpoint, category=category, severity=severity
            )
        except Exception:  # any failure of the lookup: the form goes on without suggestions
            log.warning("similar-report lookup failed", exc_info=True)
            return []
        elapsed = time.monotonic() - started
        if elapsed > LOOKUP_BUDGET_SECONDS:
            log.warning("similar-report lookup took %.1f s: suggestions dropped", elapsed)
            return []
        prefix = self._program.id_prefix
        return [
            Suggestion(
                feedback_id=c.feedback_id,
                short_id=f"{prefix}-{c.feedback_id}",
                summary=c.summary,
                severity=c.severity,
                state=c.state,
                ticket_key=c.ticket_key,
                ticket_url=c.ticket_url,
                link=c.receipt_permalink,
                reporters=c.reporters,
                created_at=c.created_at,
                workaround=c.workaround,
            )
            for c in (match.candidate for match in matches)
        ]
