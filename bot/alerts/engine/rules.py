"""Threshold rules on gateway metrics and their pure evaluation over a history of scrapes.

A `Rule` says *when* to alert (threshold, direction, persistence, hysteresis, where to post);
its `query` says *what* to measure. Queries are plain data so they can be filled from a gateway
preset (requests metric, status label, latency histogram and its unit) or from explicit config.

`evaluate(rule, history, now)` gives the current value per scope, or None when the history cannot
say (fewer than two scrapes in the window, no baseline a day back, no recent scrape). It never
invents a value: a scope without traffic has no error rate rather than 0 %, and a histogram
without observations has no percentile rather than NaN.

Value units: error rate is a ratio in [0, 1]; latency is in milliseconds; a traffic comparison is
the ratio current/baseline, and an absolute traffic floor is in requests per second.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.alerts.engine.model import Labels, Scrape
from bot.alerts.engine.rates import (
    SeriesFilter,
    bucket_increases,
    has_labels,
    histogram_quantile,
    project,
    scrapes_between,
    series_values,
    window_increase,
    window_rate,
)

StatusPredicate = Callable[[str], bool]
"""Decides from a status label's value ("503", "5", "5xx") whether the request failed."""

DEFAULT_WINDOW = dt.timedelta(minutes=5)
# Prometheus's default lookback delta: a sample older than this is stale, not current.
DEFAULT_LOOKBACK = dt.timedelta(minutes=5)
# Alertmanager's default repeat_interval.
DEFAULT_REPEAT_INTERVAL = dt.timedelta(hours=4)
ONE_DAY = dt.timedelta(days=1)
ONE_WEEK = dt.timedelta(weeks=1)

_STATUS_CLASS = re.compile(r"([1-5])(?:\d\d|xx|XX)?")


def status_class(value: str) -> int | None:
    """The hundreds digit of a status label value, whichever way the gateway writes it.

    Kong, APISIX and Traefik write the code ("503"), Envoy the class ("5" in
    `envoy_response_code_class`) and NGINX Plus the class with a suffix ("5xx"); all mean 5.
    """
    matched = _STATUS_CLASS.fullmatch(value.strip())
    return int(matched.group(1)) if matched else None


class Comparison(StrEnum):
    """Which side of the threshold is bad."""

    ABOVE = "above"  # value > threshold breaches (error rate, latency)
    BELOW = "below"  # value < threshold breaches (traffic)


@dataclass(frozen=True, kw_only=True)
class ErrorRateQuery:
    """Share of requests with an error status over a window, per scope.

    `metric` is the requests counter as exposed (e.g. `kong_http_requests_total`), split by
    `status_label` (`code`, `envoy_response_code_class`). The denominator is every series of the
    metric that passes `match`, whatever its status.
    """

    metric: str
    status_label: str
    window: dt.timedelta = DEFAULT_WINDOW
    include_4xx: bool = False
    scope_labels: tuple[str, ...] = ()
    match: Labels = ()  # label equality the series must satisfy, e.g. (("source", "service"),)
    is_error: StatusPredicate | None = field(default=None, compare=False)  # overrides the classes

    unit = "ratio"

    def __post_init__(self) -> None:
        _require_positive(self.window, "window")

    def counts_as_error(self, status: str) -> bool:
        """Whether a series with this status label value holds failed requests."""
        if self.is_error is not None:
            return self.is_error(status)
        error_classes = (4, 5) if self.include_4xx else (5,)
        return status_class(status) in error_classes


@dataclass(frozen=True, kw_only=True)
class HistogramLatencyQuery:
    """A latency percentile from a classic histogram's bucket increases over a window.

    `histogram` is the base name (`kong_request_latency_ms`); its buckets are the
    `<histogram>_bucket` series. `unit_seconds` is what one unit of the bucket bounds is worth in
    seconds: 0.001 for Kong, APISIX and Envoy (milliseconds), 1 for Traefik (seconds).
    """

    histogram: str
    unit_seconds: float
    quantile: float = 0.95
    window: dt.timedelta = DEFAULT_WINDOW
    scope_labels: tuple[str, ...] = ()
    match: Labels = ()  # e.g. (("type", "request"),) for APISIX, whose types must not be mixed

    unit = "ms"

    def __post_init__(self) -> None:
        _require_positive(self.window, "window")
        _require_unit(self.unit_seconds)
        if not 0 <= self.quantile <= 1:
            raise ValueError(f"quantile must be within [0, 1], not {self.quantile}")

    @property
    def bucket_metric(self) -> str:
        """The sample name of the buckets."""
        suffix = "_bucket"
        return self.histogram if self.histogram.endswith(suffix) else self.histogram + suffix


@dataclass(frozen=True, kw_only=True)
class GaugeLatencyQuery:
    """Latency from a gauge (e.g. NGINX Plus average response time): the latest value per scope.

    Several series in one scope report their worst (highest) value: an alert should not be
    averaged away by a healthy neighbour.
    """

    metric: str
    unit_seconds: float
    lookback: dt.timedelta = DEFAULT_LOOKBACK
    scope_labels: tuple[str, ...] = ()
    match: Labels = ()

    unit = "ms"

    def __post_init__(self) -> None:
        _require_positive(self.lookback, "lookback")
        _require_unit(self.unit_seconds)


@dataclass(frozen=True, kw_only=True)
class TrafficQuery:
    """Requests per second over a window, against the same window `compare_with` earlier.

    With `compare_with` (a day, a week) the value is current/baseline, so a threshold of 0.5
    BELOW means "traffic halved". With `compare_with=None` the value is the current rate itself
    and the rule's threshold is an absolute floor in requests per second. Scopes whose baseline
    rate is zero or below `min_baseline_rate` have no value: quiet hours are not a drop.
    """

    metric: str
    window: dt.timedelta = dt.timedelta(minutes=15)
    compare_with: dt.timedelta | None = ONE_DAY
    min_baseline_rate: float = 0.0
    scope_labels: tuple[str, ...] = ()
    match: Labels = ()

    def __post_init__(self) -> None:
        _require_positive(self.window, "window")
        if self.compare_with is not None:
            _require_positive(self.compare_with, "compare_with")

    @property
    def unit(self) -> str:
        """`ratio` when compared with a baseline, `req/s` for an absolute floor."""
        return "req/s" if self.compare_with is None else "ratio"


@dataclass(frozen=True, kw_only=True)
class CustomQuery:
    """A PromQL expression run by a Prometheus source, whose answer is read back per label set.

    The source names the samples it returns after the rule (`Sample.name == rule.id`), so one
    query answer can carry several rules. The latest scrape within `lookback` counts.
    """

    promql: str
    lookback: dt.timedelta = DEFAULT_LOOKBACK

    unit = ""

    def __post_init__(self) -> None:
        _require_positive(self.lookback, "lookback")


Query = ErrorRateQuery | HistogramLatencyQuery | GaugeLatencyQuery | TrafficQuery | CustomQuery


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One alert definition: a query, a threshold, and how the alert lives and is delivered.

    `for_`: how long the threshold must be breached continuously before the alert fires.
    `resolve_threshold`: hysteresis; a firing alert resolves only once the value is back past
    this (at or below it for ABOVE, at or above it for BELOW). None means the threshold itself.
    `keep_firing_for`: how long the value must stay resolved before the alert resolves.
    `repeat_interval`: reminder cadence while firing; None for no reminders.
    """

    id: str
    query: Query
    threshold: float
    comparison: Comparison = Comparison.ABOVE
    for_: dt.timedelta = dt.timedelta(0)
    resolve_threshold: float | None = None
    keep_firing_for: dt.timedelta = dt.timedelta(0)
    severity: str = "warning"
    channel: str | None = None
    repeat_interval: dt.timedelta | None = DEFAULT_REPEAT_INTERVAL

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a rule needs an id")
        if not math.isfinite(self.threshold):
            raise ValueError(f"rule {self.id}: threshold must be a finite number")
        if self.for_ < dt.timedelta(0) or self.keep_firing_for < dt.timedelta(0):
            raise ValueError(f"rule {self.id}: for_ and keep_firing_for cannot be negative")
        if self.repeat_interval is not None:
            _require_positive(self.repeat_interval, "repeat_interval")
        if self.resolve_threshold is not None:
            if not math.isfinite(self.resolve_threshold):
                raise ValueError(f"rule {self.id}: resolve_threshold must be a finite number")
            # A resolve threshold on the bad side would resolve alerts that are still breaching.
            if self.breaches(self.resolve_threshold):
                raise ValueError(
                    f"rule {self.id}: resolve_threshold {self.resolve_threshold} must not be "
                    f"{self.comparison} the threshold {self.threshold}"
                )

    @property
    def clear_threshold(self) -> float:
        """The value a firing alert must get back to before it resolves."""
        return self.threshold if self.resolve_threshold is None else self.resolve_threshold

    def breaches(self, value: float) -> bool:
        """Whether `value` is on the bad side of the threshold (strictly)."""
        if self.comparison is Comparison.ABOVE:
            return value > self.threshold
        return value < self.threshold

    def clears(self, value: float) -> bool:
        """Whether `value` is back past the resolve threshold (the threshold itself included)."""
        if self.comparison is Comparison.ABOVE:
            return value <= self.clear_threshold
        return value >= self.clear_threshold


def required_history(rule: Rule) -> dt.timedelta:
    """How far back from `now` the scrapes this rule reads go; older ones can be dropped."""
    query = rule.query
    if isinstance(query, TrafficQuery):
        return query.window + (query.compare_with or dt.timedelta(0))
    if isinstance(query, ErrorRateQuery | HistogramLatencyQuery):
        return query.window
    return query.lookback


def evaluate(rule: Rule, history: Sequence[Scrape], now: dt.datetime) -> dict[Labels, float] | None:
    """The rule's current value per scope, or None when the history cannot tell.

    `history` holds the successful scrapes of the rule's source, oldest first. Scopes without a
    value (no traffic, no observations) are absent from the result; every value is finite.
    """
    query = rule.query
    if isinstance(query, ErrorRateQuery):
        return _error_rate(query, history, now)
    if isinstance(query, HistogramLatencyQuery):
        return _histogram_latency(query, history, now)
    if isinstance(query, GaugeLatencyQuery):
        return _gauge_latency(query, history, now)
    if isinstance(query, TrafficQuery):
        return _traffic(query, history, now)
    return _custom(rule.id, query, history, now)


def _error_rate(
    query: ErrorRateQuery, history: Sequence[Scrape], now: dt.datetime
) -> dict[Labels, float] | None:
    per_series = window_increase(history, query.window, now, query.metric, _filter(query.match))
    if per_series is None:
        return None
    requests: dict[Labels, float] = {}
    errors: dict[Labels, float] = {}
    for labels, delta in per_series.items():
        scope = project(labels, query.scope_labels)
        requests[scope] = requests.get(scope, 0.0) + delta
        if query.counts_as_error(dict(labels).get(query.status_label, "")):
            errors[scope] = errors.get(scope, 0.0) + delta
    # No requests means no error rate at all: 0 % would claim health we have not seen.
    return {scope: errors.get(scope, 0.0) / total for scope, total in requests.items() if total > 0}


def _histogram_latency(
    query: HistogramLatencyQuery, history: Sequence[Scrape], now: dt.datetime
) -> dict[Labels, float] | None:
    scopes = bucket_increases(
        history, query.window, now, query.bucket_metric, _filter(query.match), query.scope_labels
    )
    if scopes is None:
        return None
    latencies: dict[Labels, float] = {}
    for scope, buckets in scopes.items():
        quantile = histogram_quantile(query.quantile, buckets)
        if math.isfinite(quantile):  # NaN: nothing observed in the window
            latencies[scope] = _milliseconds(quantile, query.unit_seconds)
    return latencies


def _gauge_latency(
    query: GaugeLatencyQuery, history: Sequence[Scrape], now: dt.datetime
) -> dict[Labels, float] | None:
    scrape = _latest(history, now, query.lookback)
    if scrape is None:
        return None
    worst: dict[Labels, float] = {}
    for labels, value in series_values(scrape, query.metric, _filter(query.match)).items():
        scope = project(labels, query.scope_labels)
        worst[scope] = max(worst.get(scope, -math.inf), value)
    return {scope: _milliseconds(value, query.unit_seconds) for scope, value in worst.items()}


def _traffic(
    query: TrafficQuery, history: Sequence[Scrape], now: dt.datetime
) -> dict[Labels, float] | None:
    match = _filter(query.match)
    current = window_rate(history, query.window, now, query.metric, match, query.scope_labels)
    if current is None or query.compare_with is None:
        return current
    then = now - query.compare_with
    baseline = window_rate(history, query.window, then, query.metric, match, query.scope_labels)
    if baseline is None:
        return None  # the bot has not read this source for that long: no comparison, not "no drop"
    floor = max(query.min_baseline_rate, 0.0)
    return {
        scope: rate / baseline[scope]
        for scope, rate in current.items()
        if baseline.get(scope, 0.0) > 0 and baseline[scope] >= floor
    }


def _custom(
    rule_id: str, query: CustomQuery, history: Sequence[Scrape], now: dt.datetime
) -> dict[Labels, float] | None:
    scrape = _latest(history, now, query.lookback)
    if scrape is None:
        return None
    return series_values(scrape, rule_id)


def _latest(history: Sequence[Scrape], now: dt.datetime, lookback: dt.timedelta) -> Scrape | None:
    """The newest scrape in [now - lookback, now]; older ones are stale, not current."""
    recent = scrapes_between(history, now - lookback, now)
    return recent[-1] if recent else None


def _filter(match: Labels) -> SeriesFilter | None:
    return has_labels(match) if match else None


def _milliseconds(value: float, unit_seconds: float) -> float:
    return value * unit_seconds * 1000.0


def _require_positive(duration: dt.timedelta, name: str) -> None:
    if duration <= dt.timedelta(0):
        raise ValueError(f"{name} must be a positive duration, not {duration}")


def _require_unit(unit_seconds: float) -> None:
    if not (math.isfinite(unit_seconds) and unit_seconds > 0):
        raise ValueError(f"unit_seconds must be a positive number, not {unit_seconds}")
