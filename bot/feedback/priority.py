"""The priority score of an open item: a pure rule of the item, the program and `now`.

RICE scores reach × impact × confidence ÷ effort; a hypercare team triaging reports knows
neither effort nor confidence yet, but it knows how broken (severity: the impact), how many
people (reach: the users affected each reporter named, summed), how often (reporters) and
for how long (age). So: impact × (1 + w_reach × log10(reach)) × reporters^w_frequency ×
(1 + w_age × days open). The logarithm keeps "everyone" from drowning every other sign.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from bot.config import Program
from bot.domain import Feedback
from bot.feedback.program import RICE_IMPACT
from bot.ports import Clock
from storage.intake import IntakeRepository


def impact(program: Program, severity: str) -> float:
    """The impact of a severity: the program's `priority.severity`, else RICE's by rank."""
    configured = program.priority.severity.get(severity)
    if configured is not None:
        return configured
    ids = [s.id for s in program.severities]
    rank = ids.index(severity) if severity in ids else len(ids)
    return RICE_IMPACT[min(rank, len(RICE_IMPACT) - 1)]


def score_of(
    program: Program,
    now: dt.datetime,
    *,
    severity: str,
    reach: int,
    reporters: int,
    created_at: dt.datetime,
) -> float:
    """The priority score of an open item with these facts (higher first), to one decimal."""
    weights = program.priority
    days = max((now - created_at).total_seconds(), 0.0) / 86400
    value: float = (
        impact(program, severity)
        * (1 + weights.reach * math.log10(max(reach, 1)))
        * float(max(reporters, 1)) ** weights.frequency
        * (1 + weights.age_per_day * days)
    )
    return round(value, 1)


def score(feedback: Feedback, program: Program, now: dt.datetime) -> float:
    """The item's priority score now (higher first), rounded to one decimal."""
    return score_of(
        program,
        now,
        severity=feedback.severity,
        reach=feedback.reach,
        reporters=feedback.reporters,
        created_at=feedback.created_at,
    )


def ranked(
    items: Sequence[Feedback], program: Program, now: dt.datetime
) -> list[tuple[Feedback, float]]:
    """Items with their scores, highest first (older first on a tie)."""
    scored = [(f, score(f, program, now)) for f in items]
    scored.sort(key=lambda pair: (-pair[1], pair[0].created_at, pair[0].id))
    return scored


class PriorityService:
    """Ranks the open items by their priority score."""

    def __init__(self, *, repo: IntakeRepository, program: Program, clock: Clock) -> None:
        self._repo = repo
        self._program = program
        self._clock = clock

    def top(self, limit: int | None = None) -> list[tuple[Feedback, float]]:
        """The open items with the highest scores, highest first."""
        ranking = ranked(self._repo.open_items(), self._program, self._clock())
        return ranking[: limit or self._program.priority.top]
