"""Readiness to leave hypercare: the program's exit criteria, judged on the stored KPIs.

Pure evaluation: the figures come from a `KpiSource` (`storage.kpis.Kpis` in the bot, a fake
in tests), the time from the caller, and nothing here knows about Slack, so `/hypercare
status`, the weekly review and a CLI can all show the same judgement.

A criterion is met, not met, or unknown (`met=None`: no data to judge it on). The verdict is
READY only when every criterion is met: an unknown one keeps the team in hypercare, because
leaving on a check nobody could run is the failure the exit criteria exist to prevent.

Each criterion also gets a trend: its figure over the last period against the period before
(for MTTR, the last `days` against the `days` before), so a lead sees whether a criterion not
yet met is getting closer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from bot.config import Program
from bot.domain import CriterionResult, Readiness, Trend, Verdict
from bot.oncall.rota import local_days, local_instant
from bot.ports import KpiSource, MetricHistory, SatisfactionSource
from bot.reports.program import (
    ErrorRateBelow,
    ExitCriterion,
    MttrBelow,
    NoOpenSeverity,
    NoSlaBreach,
    NoUnownedItems,
    OpenItemsBelow,
    P95LatencyBelow,
    SatisfactionAbove,
)

TREND_DAYS = 7  # the period a criterion without `days` (open items) is compared over
STEADY_WITHIN = 0.05  # a relative change smaller than this is "steady", not a trend
NO_METRIC_HISTORY = "no stored metric history yet"
NO_PULSE = "no user pulse answers to read"


def assess(
    program: Program,
    kpis: KpiSource,
    now: dt.datetime,
    metrics: MetricHistory | None = None,
    satisfaction: SatisfactionSource | None = None,
) -> Readiness:
    """Judge the program's exit criteria at `now` (an aware instant)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    def judge(criterion: ExitCriterion) -> CriterionResult:
        if isinstance(criterion, ErrorRateBelow | P95LatencyBelow):
            return _metric(criterion, metrics, now, program.zone)
        if isinstance(criterion, SatisfactionAbove):
            return _satisfaction_above(criterion, satisfaction, now, _window_start(program))
        return _judge(criterion, kpis, now)

    results = tuple(judge(criterion) for criterion in program.reports.exit_criteria)
    if not results:
        verdict = Verdict.NO_CRITERIA
    elif all(result.met is True for result in results):
        verdict = Verdict.READY
    else:
        verdict = Verdict.NOT_READY
    window = program.window
    today = now.astimezone(program.zone).date()
    return Readiness(
        criteria=results,
        verdict=verdict,
        days_left=window.days_left(today) if window else None,
        day_number=window.day_number(today) if window else None,
    )


def _window_start(program: Program) -> dt.datetime:
    """The instant the hypercare window began: its first local midnight."""
    window = program.window
    start = window.start if window is not None else program.go_live
    return local_instant(start, dt.time(0), program.zone)


def _satisfaction_above(
    c: SatisfactionAbove,
    source: SatisfactionSource | None,
    now: dt.datetime,
    window_start: dt.datetime,
) -> CriterionResult:
    """CSAT over the last `days` (or the whole window) reaches `percent` on enough answers.

    Too few answers is "no data", never met: a CSAT of 100 % on two answers says little. The
    trend is CSAT over the last `days` (7 without) against the same span before.
    """
    if source is None:
        return CriterionResult(c.label, None, NO_PULSE, Trend.UNKNOWN)
    span = c.days or TREND_DAYS
    recent, before = _periods(now, span)
    trend = _rising(
        source.satisfaction(recent, now).csat_percent,
        source.satisfaction(before, recent).csat_percent,
    )
    since = recent if c.days else min(window_start, now)
    figures = source.satisfaction(since, now)
    if figures.responses < c.responses or figures.csat_percent is None:
        so_far = (
            f" (CSAT {figures.csat_percent:.0f}% so far)"
            if figures.csat_percent is not None
            else ""
        )
        value = f"not enough answers yet: {figures.responses} of {c.responses}{so_far}"
        return CriterionResult(c.label, None, value, trend)
    value = f"CSAT {figures.csat_percent:.0f}% of {_count(figures.responses, 'answer')}"
    if figures.mean is not None:
        value += f", mean {figures.mean:.1f}/5"
    return CriterionResult(c.label, figures.csat_percent >= c.percent, value, trend)


def _rising(current: float | None, previous: float | None) -> Trend:
    """Higher is better (satisfaction): the opposite reading of `_trend`."""
    if current is None or previous is None:
        return Trend.UNKNOWN
    if current == previous or (previous and abs(current - previous) / previous < STEADY_WITHIN):
        return Trend.STEADY
    return Trend.IMPROVING if current > previous else Trend.WORSE


def _judge(criterion: ExitCriterion, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    if isinstance(criterion, NoOpenSeverity):
        return _no_open_severity(criterion, kpis, now)
    if isinstance(criterion, NoSlaBreach):
        return _no_sla_breach(criterion, kpis, now)
    if isinstance(criterion, MttrBelow):
        return _mttr_below(criterion, kpis, now)
    if isinstance(criterion, OpenItemsBelow):
        return _open_items_below(criterion, kpis, now)
    if isinstance(criterion, NoUnownedItems):
        return _no_unowned_items(criterion, kpis, now)
    raise TypeError(f"no judgement for exit criterion {criterion!r}")  # a new kind was added


def _periods(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    """The starts of the last `days` and of the `days` before them."""
    span = dt.timedelta(days=days)
    return now - span, now - 2 * span


def _no_open_severity(c: NoOpenSeverity, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    last = kpis.last_open_of_severity(c.severity, now)
    if last is None:
        met, value = True, f"no {c.severity} item ever open"
    elif last >= now:
        met, value = False, f"{c.severity} open now"
    else:
        met = now - last >= dt.timedelta(days=c.days)
        value = f"last {c.severity} open {_ago(now - last)} ago"
    recent, before = _periods(now, c.days)
    current = kpis.opened(recent, now).get(c.severity, 0)
    previous = kpis.opened(before, recent).get(c.severity, 0)
    return CriterionResult(c.label, met, value, _trend(current, previous))


def _no_sla_breach(c: NoSlaBreach, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    recent, before = _periods(now, c.days)
    current = kpis.sla_breaches(recent, now)
    previous = kpis.sla_breaches(before, recent)
    if current:
        value = f"{_count(current, 'breach', 'breaches')} in the last {_count(c.days, 'day')}"
    else:
        last = kpis.last_breach_at()
        value = "no breach so far" if last is None else f"last breach {_ago(now - last)} ago"
    return CriterionResult(c.label, current == 0, value, _trend(current, previous))


def _mttr_below(c: MttrBelow, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    recent, before = _periods(now, c.days)
    current = kpis.mean_times(recent, now).get(c.severity)
    previous = kpis.mean_times(before, recent).get(c.severity)
    mttr = current.mttr_seconds if current else None
    trend = _trend(mttr, previous.mttr_seconds if previous else None)
    if current is None or mttr is None:
        value = f"no {c.severity} resolved in the last {_count(c.days, 'day')}"
        return CriterionResult(c.label, None, value, trend)
    value = f"MTTR {mttr / 3600:.1f} h ({current.resolved} resolved)"
    return CriterionResult(c.label, mttr < c.hours * 3600, value, trend)


def _open_items_below(c: OpenItemsBelow, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    def open_at(moment: dt.datetime) -> int:
        counts = kpis.open_counts(moment)
        return counts.get(c.severity, 0) if c.severity else sum(counts.values())

    current = open_at(now)
    previous = open_at(now - dt.timedelta(days=TREND_DAYS))
    which = f"open {c.severity}" if c.severity else "open"
    value = f"{current} {which} " + ("item" if current == 1 else "items")
    return CriterionResult(c.label, current < c.count, value, _trend(current, previous))


def _no_unowned_items(c: NoUnownedItems, kpis: KpiSource, now: dt.datetime) -> CriterionResult:
    unowned = kpis.unowned_open(now)
    if unowned:
        value = f"{_count(unowned, 'open item')} without an owner"
    else:
        value = "every open item has an owner"
    # No trend: a ticket key has no timestamp, so how many were unowned a week ago is unknown.
    return CriterionResult(c.label, unowned == 0, value, Trend.UNKNOWN)


def _trend(current: float | None, previous: float | None) -> Trend:
    """Lower is better for every figure judged here (open items, breaches, MTTR)."""
    if current is None or previous is None:
        return Trend.UNKNOWN
    if current == previous:
        return Trend.STEADY
    if previous and abs(current - previous) / previous < STEADY_WITHIN:
        return Trend.STEADY
    return Trend.IMPROVING if current < previous else Trend.WORSE


def _ago(delta: dt.timedelta) -> str:
    """A duration, rounded down, in the unit a reader expects: a 7-day streak needs 7 days."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _worst_per_day(
    series: Mapping[str, tuple[float | None, ...]], source: str | None
) -> list[float]:
    """Each day's worst value across the chosen source (or all), days without data left out."""
    chosen = [values for name, values in series.items() if source is None or name == source]
    days = zip(*chosen, strict=True) if chosen else iter(())
    return [max(v for v in day if v is not None) for day in days if any(v is not None for v in day)]


def _metric(
    c: ErrorRateBelow | P95LatencyBelow,
    metrics: MetricHistory | None,
    now: dt.datetime,
    zone: ZoneInfo,
) -> CriterionResult:
    """Every day with figures in the last `days` stays under the limit (unknown without any).

    Figures come from gateway alerting's hourly table: per poll, the worst scope of each
    error-rate (or latency) rule, averaged per local day. Days without figures (no traffic,
    source down) do not count either way; no figures at all is "no data", never met.
    """
    if metrics is None:
        return CriterionResult(c.label, None, NO_METRIC_HISTORY, Trend.UNKNOWN)
    rate = isinstance(c, ErrorRateBelow)
    if isinstance(c, ErrorRateBelow):
        unit, limit = "ratio", c.percent / 100
    else:
        unit, limit = "ms", float(c.ms)
    recent, before = _periods(now, c.days)
    current = _worst_per_day(metrics.metric_days(local_days(recent, now, zone), unit)[1], c.source)
    previous = _worst_per_day(
        metrics.metric_days(local_days(before, recent, zone), unit)[1], c.source
    )
    if not current:
        return CriterionResult(
            c.label, None, f"no gateway figures in the last {_count(c.days, 'day')}", Trend.UNKNOWN
        )
    worst = max(current)
    shown = f"{worst * 100:.2f} %" if rate else f"{worst:.0f} ms"
    value = f"worst day {shown} ({len(current)} day(s) with figures)"
    mean_now = sum(current) / len(current)
    mean_before = sum(previous) / len(previous) if previous else None
    return CriterionResult(c.label, worst < limit, value, _trend(mean_now, mean_before))
