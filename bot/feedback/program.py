"""The program file's `similar:` section: when a report being typed looks like one stored.

The score of a stored report is one number from 0 to 1 (bot/feedback/similarity.py): the
weighted text similarities plus the boosts, less the penalties, over 1 + the sum of the boosts
(so a higher score is always more signs of the same problem, and 1 needs every sign). Reports
scoring at least `threshold` are shown, best first, `show` at most.

The defaults were tuned on the tuning half of labelled report pairs
(tests/data/similar_pairs.jsonl), the threshold where F1 is best on that half; the other half
is only measured (benchmarks/similar.py prints precision and recall over a range of thresholds
for both halves, so a team can see what raising or lowering it trades). In those pairs the
reports that are not the same problem were written to look alike, so shared words, one
component and one endpoint say little there: the text counts through the words and character
trigrams the whole reports share and the database's rank, and the signs that tell problems
apart weigh more (another endpoint, another kind of fault, opposite faults, the category and
severity the reporters picked).
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.reports.program import Days


class _Strict(BaseModel):
    """A program-file section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SimilarWeights(_Strict):
    """How much each sign of "the same problem" counts.

    The text weights (`summary`, `happened`, `words`, `cross`, `grams`, `wording`, `database`)
    are shares of the
    text score and must not all be 0; the boosts and penalties are added to or taken from it
    (the `same_*` weights are the boosts, the others penalties).
    """

    # Words the two summaries share, the rarer among the candidates the more (cosine of the
    # rarity-weighted word counts).
    summary: float = Field(default=0.0, ge=0, le=1)
    # The same for the two "what happened" texts (or for the summary and the whole other report
    # when one side has only a summary).
    happened: float = Field(default=0.0, ge=0, le=1)
    # The same for the two whole reports.
    words: float = Field(default=0.3, ge=0, le=1)
    # The same for one's summary against the other's whole report (the better of the two ways):
    # a terse report ("dashboard slow") against a detailed one.
    cross: float = Field(default=0.0, ge=0, le=1)
    # Character trigrams the two whole reports share (cosine): typos, abbreviations, word forms.
    grams: float = Field(default=0.5, ge=0, le=1)
    # How alike the summaries read word for word, order and extra words forgiven (rapidfuzz).
    wording: float = Field(default=0.0, ge=0, le=1)
    # The database's own text rank, relative to the best candidate of the same lookup.
    database: float = Field(default=0.75, ge=0, le=1)
    # One component: the two names share a word once "api", "svc", "service"... are left out.
    same_component: float = Field(default=0.0, ge=0, le=1)
    different_component: float = Field(default=0.1, ge=0, le=1)
    # Same method and path once ids are collapsed (half as much for the same path only).
    same_endpoint: float = Field(default=0.0, ge=0, le=1)
    different_endpoint: float = Field(default=0.75, ge=0, le=1)
    # The category and the severity the two reporters picked in the form.
    same_category: float = Field(default=0.2, ge=0, le=1)
    different_category: float = Field(default=0.05, ge=0, le=1)
    same_severity: float = Field(default=0.3, ge=0, le=1)
    # The kinds of fault the two texts name (bot/feedback/faults.py: error, slow, access,
    # rejected, limit, duplicate, missing, wrong, display): times the share in common, or taken
    # off when both name some and none is shared.
    same_fault: float = Field(default=0.3, ge=0, le=1)
    different_fault: float = Field(default=0.3, ge=0, le=1)
    # One says something happened twice, the other that it never happened.
    opposite_fault: float = Field(default=0.35, ge=0, le=1)
    # One asks for a change ("would be nice", "please add"), the other does not.
    request_vs_fault: float = Field(default=0.2, ge=0, le=1)
    # Both quote HTTP status codes and none is the same (a 403 is not a 500).
    different_status: float = Field(default=0.05, ge=0, le=1)

    @property
    def text(self) -> float:
        """The text weights together."""
        return (
            self.summary
            + self.happened
            + self.words
            + self.cross
            + self.grams
            + self.wording
            + self.database
        )

    @property
    def boosts(self) -> float:
        """The most the boosts can add to the text score together."""
        return (
            self.same_component
            + self.same_endpoint
            + self.same_category
            + self.same_severity
            + self.same_fault
        )

    @model_validator(mode="after")
    def _some_text(self) -> Self:
        if self.text == 0:
            raise ValueError(
                "summary, happened, words, cross, grams, wording and database cannot all be 0"
            )
        return self


class SimilarProgram(_Strict):
    """The similar-report lookup: which stored reports a new one is compared with, and when a
    stored one counts as the same problem."""

    enabled: bool = True
    threshold: float = Field(default=0.4, ge=0, le=1)
    show: int = Field(default=3, ge=1, le=10)  # matches shown at most
    # Candidates the database hands to the re-rank: more finds more, each costs a comparison.
    candidates: int = Field(default=30, ge=1, le=200)
    # Resolved reports match for this many days after they were resolved; open ones always.
    resolved_within_days: Days = 14
    weights: SimilarWeights = Field(default_factory=SimilarWeights)

    @property
    def resolved_window(self) -> dt.timedelta:
        """How long a resolved report still matches."""
        return dt.timedelta(days=self.resolved_within_days)


# RICE's impact scale (3 massive, 2 high, 1 medium, 0.5 low, 0.25 minimal), by severity rank:
# the program's first severity is the most urgent.
RICE_IMPACT = (3.0, 2.0, 1.0, 0.5, 0.25)


class PriorityProgram(_Strict):
    """The priority score of an open item, RICE-like (README, "Priority score"):

    impact(severity) × (1 + reach × log10(people reached)) × reporters ^ frequency
    × (1 + age_per_day × days open)

    Reach and frequency raise it, age makes a neglected item climb.
    """

    # Impact per severity id; a severity left out gets RICE's scale by its rank.
    severity: dict[str, float] = Field(default_factory=dict)
    reach: float = Field(default=1.0, ge=0, le=10)
    frequency: float = Field(default=0.5, ge=0, le=3)
    age_per_day: float = Field(default=0.1, ge=0, le=10)
    top: int = Field(default=10, ge=1, le=50)  # items `/hypercare top` shows

    @model_validator(mode="after")
    def _impacts(self) -> Self:
        for severity, impact in self.severity.items():
            if not 0 <= impact <= 100:
                raise ValueError(f"severity.{severity}: impact must be between 0 and 100")
        return self
