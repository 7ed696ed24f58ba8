"""The `satisfaction_above` exit criterion judged on the user pulse's answers: met, not met,
not enough answers, its trend, and the span it reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.domain import CriterionResult, Satisfaction, Trend, Verdict
from bot.reports.readiness import NO_PULSE, assess
from tests.reports.test_readiness import NOW, FakeKpis, before, last, program

Period = tuple[dt.datetime, dt.datetime]
WINDOW_START = dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC)  # 16 Nov, midnight in Berlin


def scores(*counts: int) -> Satisfaction:
    """The figures of `counts[n]` answers of n + 1 (so `scores(0, 0, 1, 4, 5)` is ten answers)."""
    return Satisfaction.of([n + 1 for n, count in enumerate(counts) for _ in range(count)])


@dataclass
class FakeAnswers:
    """Planned answers, keyed by the period asked about (any other period is a KeyError)."""

    periods: dict[Period, Satisfaction] = field(default_factory=dict)

    def satisfaction(self, start: dt.datetime, end: dt.datetime) -> Satisfaction:
        return self.periods[start, end]


def judge(criterion: dict[str, Any], answers: FakeAnswers | None) -> CriterionResult:
    (result,) = assess(program(criterion), FakeKpis(), NOW, None, answers).criteria
    return result


def criterion(**params: Any) -> dict[str, Any]:
    return {"satisfaction_above": {"percent": 80, "responses": 10, **params}}


def trend(current: Satisfaction, previous: Satisfaction, days: int = 7) -> dict[Period, Any]:
    return {last(days): current, before(days): previous}


@pytest.mark.parametrize(
    ("window", "met", "value"),
    [
        (scores(0, 0, 2, 4, 6), True, "CSAT 83% of 12 answers, mean 4.3/5"),
        (scores(0, 0, 2, 4, 4), True, "CSAT 80% of 10 answers, mean 4.2/5"),  # ≥, not >
        (scores(1, 1, 4, 10, 4), False, "CSAT 70% of 20 answers, mean 3.8/5"),
        (scores(0, 0, 1, 1, 1), None, "not enough answers yet: 3 of 10 (CSAT 67% so far)"),
        (scores(), None, "not enough answers yet: 0 of 10"),
    ],
)
def test_met_on_enough_answers_over_the_window(
    window: Satisfaction, met: bool | None, value: str
) -> None:
    """Without `days` the answers since the window's first local midnight count; too few is
    "no data" (never met), enough at or above the percentage is met."""
    answers = FakeAnswers({(WINDOW_START, NOW): window, **trend(scores(), scores())})
    result = judge(criterion(), answers)
    assert (result.met, result.value) == (met, value)


def test_days_read_the_last_days_and_the_trend_compares_with_the_days_before() -> None:
    """With `days: 14` the last 14 days count, and CSAT rising on the 14 before is improving."""
    answers = FakeAnswers(trend(scores(0, 0, 0, 5, 5), scores(0, 0, 5, 5, 0), days=14))
    result = judge(criterion(days=14), answers)
    assert result.met is True and result.value == "CSAT 100% of 10 answers, mean 4.5/5"
    assert result.trend is Trend.IMPROVING


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (scores(0, 0, 5, 5), scores(0, 0, 0, 5), Trend.WORSE),  # 50 % after 100 %
        (scores(0, 0, 1, 9), scores(0, 0, 1, 9), Trend.STEADY),
        (scores(0, 0, 0, 1), scores(), Trend.UNKNOWN),  # nothing to compare with
    ],
)
def test_higher_satisfaction_is_the_better_trend(
    current: Satisfaction, previous: Satisfaction, expected: Trend
) -> None:
    """Unlike breaches or MTTR, a higher CSAT is improving."""
    answers = FakeAnswers({(WINDOW_START, NOW): scores(), **trend(current, previous)})
    assert judge(criterion(), answers).trend is expected


def test_without_answers_to_read_it_is_unknown_and_keeps_the_team_in() -> None:
    """No source (no pulse wired) is "no data": the verdict is not ready."""
    result = judge(criterion(), None)
    assert (result.met, result.value, result.trend) == (None, NO_PULSE, Trend.UNKNOWN)
    assert assess(program(criterion()), FakeKpis(), NOW).verdict is Verdict.NOT_READY


def test_before_the_window_began_nothing_is_read_from_the_future() -> None:
    """Judged before go-live, the span is empty rather than reversed."""
    early = WINDOW_START - dt.timedelta(days=1)
    answers = FakeAnswers(
        {
            (early, early): scores(),
            (early - dt.timedelta(days=7), early): scores(),
            (early - dt.timedelta(days=14), early - dt.timedelta(days=7)): scores(),
        }
    )
    (result,) = assess(program(criterion()), FakeKpis(), early, None, answers).criteria
    assert result.value == "not enough answers yet: 0 of 10"
