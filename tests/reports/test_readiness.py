"""Exit criteria judged on KPIs: met, not met, unknown; the verdict, the window, the trends.

The KPIs come from a fake that answers only the periods a test planned, so asking for the
wrong period (say, a trend over the wrong span) fails with a KeyError instead of passing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import Program, load_program
from bot.domain import CriterionResult, LocalDays, MeanTimes, Trend, Verdict
from bot.ports import KpiSource
from bot.reports.program import ReportsProgram
from bot.reports.readiness import NO_METRIC_HISTORY, assess

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)  # Fri 16:00 in Berlin, day 19 of 33
Period = tuple[dt.datetime, dt.datetime]


def ago(days: float) -> dt.datetime:
    """An instant `days` before NOW."""
    return NOW - dt.timedelta(days=days)


def last(days: int) -> Period:
    """The last `days` up to NOW."""
    return ago(days), NOW


def before(days: int) -> Period:
    """The `days` before the last `days`."""
    return ago(2 * days), ago(days)


@dataclass
class FakeKpis:
    """Planned answers, keyed by the period or instant asked about."""

    opened_in: dict[Period, dict[str, int]] = field(default_factory=dict)
    means: dict[Period, dict[str, MeanTimes]] = field(default_factory=dict)
    open_at: dict[dt.datetime, dict[str, int]] = field(default_factory=dict)
    breaches: dict[Period, int] = field(default_factory=dict)
    last_breach: dt.datetime | None = None
    last_open: dict[str, dt.datetime | None] = field(default_factory=dict)
    unowned: dict[dt.datetime, int] = field(default_factory=dict)

    def mean_times(self, since: dt.datetime, until: dt.datetime) -> dict[str, MeanTimes]:
        return self.means[since, until]

    def opened(self, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
        return self.opened_in[since, until]

    def open_counts(self, now: dt.datetime) -> dict[str, int]:
        return self.open_at[now]

    def sla_breaches(self, since: dt.datetime, until: dt.datetime) -> int:
        return self.breaches[since, until]

    def last_breach_at(self) -> dt.datetime | None:
        return self.last_breach

    def last_open_of_severity(self, severity: str, now: dt.datetime) -> dt.datetime | None:
        assert now == NOW
        return self.last_open[severity]

    def unowned_open(self, now: dt.datetime) -> int:
        return self.unowned[now]


def program(*criteria: Any, **changes: Any) -> Program:
    """The example program (window 2026-11-16 … 2026-12-18, Berlin) with these criteria."""
    example = load_program(ROOT / "hypercare.example.yaml")
    reports = ReportsProgram.model_validate({"exit_criteria": list(criteria)})
    return example.model_copy(update={"reports": reports, **changes})


def judge(criterion: Any, kpis: KpiSource) -> CriterionResult:
    """The one criterion's result."""
    (result,) = assess(program(criterion), kpis, NOW).criteria
    return result


def mean(mttr_hours: float | None, resolved: int = 1) -> MeanTimes:
    """MeanTimes with an MTTR in hours."""
    mttr = None if mttr_hours is None else mttr_hours * 3600
    return MeanTimes(mtta_seconds=60.0, mttr_seconds=mttr, acknowledged=1, resolved=resolved)


SEV1_7 = {"no_open_severity": {"severity": "sev1", "days": 7}}


@pytest.mark.parametrize(
    ("last_open", "met", "value"),
    [
        (ago(8), True, "last sev1 open 8 days ago"),
        (ago(7), True, "last sev1 open 7 days ago"),
        (ago(6.9), False, "last sev1 open 6 days ago"),  # rounded down: the streak is short
        (ago(1.5), False, "last sev1 open 36 h ago"),
        (ago(0.01), False, "last sev1 open 14 min ago"),
        (NOW, False, "sev1 open now"),
        (None, True, "no sev1 item ever open"),
    ],
)
def test_no_open_severity(last_open: dt.datetime | None, met: bool, value: str) -> None:
    """Met once the last open moment of the severity is `days` behind."""
    kpis = FakeKpis(
        last_open={"sev1": last_open},
        opened_in={last(7): {"sev1": 1, "sev2": 9}, before(7): {"sev1": 3}},
    )
    assert judge(SEV1_7, kpis) == CriterionResult(
        "No open sev1 for 7 days", met, value, Trend.IMPROVING
    )


@pytest.mark.parametrize(
    ("recent", "previous", "trend"),
    [(0, 2, Trend.IMPROVING), (2, 1, Trend.WORSE), (1, 1, Trend.STEADY), (0, 0, Trend.STEADY)],
)
def test_no_open_severity_trend_counts_items_opened(
    recent: int, previous: int, trend: Trend
) -> None:
    """Fewer items of the severity opened in the last `days` than before is improving."""
    kpis = FakeKpis(
        last_open={"sev1": ago(10)},
        opened_in={last(7): {"sev1": recent}, before(7): {"sev1": previous}},
    )
    assert judge(SEV1_7, kpis).trend is trend


def test_no_sla_breach() -> None:
    """No breach in the last `days` is met, whenever the last one was."""
    criterion = {"no_sla_breach": {"days": 5}}
    met = FakeKpis(breaches={last(5): 0, before(5): 1}, last_breach=ago(6))
    assert judge(criterion, met) == CriterionResult(
        "No SLA breach for 5 days", True, "last breach 6 days ago", Trend.IMPROVING
    )
    never = FakeKpis(breaches={last(5): 0, before(5): 0})
    assert judge(criterion, never) == CriterionResult(
        "No SLA breach for 5 days", True, "no breach so far", Trend.STEADY
    )
    missed = FakeKpis(breaches={last(5): 2, before(5): 1}, last_breach=ago(1))
    assert judge(criterion, missed) == CriterionResult(
        "No SLA breach for 5 days", False, "2 breaches in the last 5 days", Trend.WORSE
    )


@pytest.mark.parametrize(
    ("recent", "previous", "met", "value", "trend"),
    [
        (mean(5.2, 4), mean(9.0), True, "MTTR 5.2 h (4 resolved)", Trend.IMPROVING),
        (mean(10.0, 2), mean(9.0), False, "MTTR 10.0 h (2 resolved)", Trend.WORSE),
        (mean(8.0), mean(6.0), False, "MTTR 8.0 h (1 resolved)", Trend.WORSE),  # not *below*
        (mean(5.0), mean(5.2), True, "MTTR 5.0 h (1 resolved)", Trend.STEADY),  # within 5 %
        (mean(5.0), None, True, "MTTR 5.0 h (1 resolved)", Trend.UNKNOWN),
        (None, mean(5.0), None, "no sev2 resolved in the last 7 days", Trend.UNKNOWN),
        (mean(None, 0), mean(5.0), None, "no sev2 resolved in the last 7 days", Trend.UNKNOWN),
    ],
)
def test_mttr_below(
    recent: MeanTimes | None,
    previous: MeanTimes | None,
    met: bool | None,
    value: str,
    trend: Trend,
) -> None:
    """MTTR over the last `days` against `hours`; the trend against the `days` before."""
    kpis = FakeKpis(
        means={
            last(7): {"sev2": recent} if recent else {"sev1": mean(1.0)},
            before(7): {"sev2": previous} if previous else {},
        }
    )
    result = judge({"mttr_below": {"severity": "sev2", "hours": 8}}, kpis)
    assert (result.met, result.value, result.trend) == (met, value, trend)


def test_open_items_below() -> None:
    """All open items, or one severity's, against the count; trend against a week ago."""
    kpis = FakeKpis(open_at={NOW: {"sev1": 1, "sev3": 3}, ago(7): {"sev3": 6}})
    assert judge({"open_items_below": {"count": 5}}, kpis) == CriterionResult(
        "Fewer than 5 open items", True, "4 open items", Trend.IMPROVING
    )
    assert judge({"open_items_below": {"count": 3, "severity": "sev3"}}, kpis) == (
        CriterionResult("Fewer than 3 open sev3 items", False, "3 open sev3 items", Trend.IMPROVING)
    )
    assert judge({"open_items_below": {"count": 3, "severity": "sev1"}}, kpis) == (
        CriterionResult("Fewer than 3 open sev1 items", True, "1 open sev1 item", Trend.WORSE)
    )


def test_no_unowned_items() -> None:
    """Met with no open item lacking both an owner and a ticket; no trend is known."""
    label = "Every open item has an owner"
    assert judge("no_unowned_items", FakeKpis(unowned={NOW: 0})) == CriterionResult(
        label, True, "every open item has an owner", Trend.UNKNOWN
    )
    assert judge("no_unowned_items", FakeKpis(unowned={NOW: 2})) == CriterionResult(
        label, False, "2 open items without an owner", Trend.UNKNOWN
    )


@pytest.mark.parametrize(
    "criterion",
    [
        {"error_rate_below": {"percent": 0.5, "days": 7}},
        {"p95_latency_below": {"ms": 800, "days": 7}},
    ],
)
def test_gateway_criteria_without_a_metric_source_are_unknown(criterion: dict[str, Any]) -> None:
    """Judged without the hourly figures they are unknown, never met."""
    result = judge(criterion, FakeKpis())
    assert (result.met, result.value, result.trend) == (None, NO_METRIC_HISTORY, Trend.UNKNOWN)


@dataclass
class FakeMetrics:
    """Daily figures per source, planned per (period, unit)."""

    days: dict[tuple[Period, str], dict[str, tuple[float | None, ...]]]

    def metric_days(
        self, days: LocalDays, unit: str
    ) -> tuple[tuple[dt.date, ...], dict[str, tuple[float | None, ...]]]:
        series = self.days.get(((days.since, days.until), unit), {})
        length = max((len(v) for v in series.values()), default=0)
        return tuple(dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(length)), series


def judge_metrics(criterion: Any, metrics: FakeMetrics) -> CriterionResult:
    """One gateway criterion judged on planned daily figures."""
    (result,) = assess(program(criterion), FakeKpis(), NOW, metrics).criteria
    return result


def test_error_rate_below_judges_each_day_with_figures() -> None:
    """Met when every day with figures is under the limit (the worst scope's daily mean);
    days without figures count neither way; the worst source decides; the trend compares means."""
    under: dict[str, tuple[float | None, ...]] = {
        "gw": (0.001, None, 0.004),
        "edge": (0.002, 0.003, None),
    }
    earlier: dict[str, tuple[float | None, ...]] = {"gw": (0.006, 0.004)}
    metrics = FakeMetrics({(last(7), "ratio"): under, (before(7), "ratio"): earlier})
    result = judge_metrics({"error_rate_below": {"percent": 0.5, "days": 7}}, metrics)
    assert result == CriterionResult(
        "Error rate under 0.5% for 7 days",
        True,
        "worst day 0.40 % (3 day(s) with figures)",
        Trend.IMPROVING,
    )
    over = FakeMetrics({(last(7), "ratio"): {"gw": (0.001, 0.009)}})
    result = judge_metrics({"error_rate_below": {"percent": 0.5, "days": 7}}, over)
    assert (result.met, result.value) == (False, "worst day 0.90 % (2 day(s) with figures)")
    chosen = FakeMetrics({(last(7), "ratio"): {"gw": (0.001,), "edge": (0.02,)}})
    criterion = {"error_rate_below": {"percent": 0.5, "days": 7, "source": "gw"}}
    assert judge_metrics(criterion, chosen).met is True


def test_p95_latency_below_and_no_figures() -> None:
    """Latency is judged in ms; a window without any figures is unknown, never met."""
    metrics = FakeMetrics({(last(7), "ms"): {"gw": (420.0, 810.0)}})
    result = judge_metrics({"p95_latency_below": {"ms": 800, "days": 7}}, metrics)
    assert (result.met, result.value) == (False, "worst day 810 ms (2 day(s) with figures)")
    empty = judge_metrics({"p95_latency_below": {"ms": 800, "days": 7}}, FakeMetrics({}))
    assert (empty.met, empty.value) == (None, "no gateway figures in the last 7 days")


def test_verdict() -> None:
    """READY only when every criterion is met; unknown or unmet keeps the team in hypercare."""
    kpis = FakeKpis(unowned={NOW: 0}, open_at={NOW: {"sev2": 1}, ago(7): {}})
    met = [{"no_unowned_items": {}}, {"open_items_below": {"count": 2}}]
    assert assess(program(*met), kpis, NOW).verdict is Verdict.READY
    unmet = {"open_items_below": {"count": 1, "label": "Empty"}}
    assert assess(program(*met, unmet), kpis, NOW).verdict is Verdict.NOT_READY
    unknown = {"p95_latency_below": {"ms": 800, "days": 7}}
    readiness = assess(program(*met, unknown), kpis, NOW)
    assert readiness.verdict is Verdict.NOT_READY
    assert [c.met for c in readiness.criteria] == [True, True, None]
    assert assess(program(), kpis, NOW).verdict is Verdict.NO_CRITERIA


def test_days_left_and_day_number_follow_the_local_date() -> None:
    """The window is 2026-11-16 … 2026-12-18; at 00:30 in Berlin it is already the next day."""
    readiness = assess(program(), FakeKpis(), NOW)
    assert (readiness.days_left, readiness.day_number) == (14, 19)
    late = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    readiness = assess(program(), FakeKpis(), late)
    assert (readiness.days_left, readiness.day_number) == (13, 20)
    unplanned = assess(program(planned_end=None), FakeKpis(), NOW)
    assert (unplanned.days_left, unplanned.day_number) == (None, None)


def test_now_must_be_aware() -> None:
    """A naive `now` would be read in the machine's zone: refused."""
    with pytest.raises(ValueError, match="aware"):
        assess(program(), FakeKpis(), NOW.replace(tzinfo=None))
