"""Counter arithmetic over a history of scrapes, as PromQL does it, without a Prometheus server.

A *history* is a sequence of successful `Scrape`s of one source, oldest first. Every function here
is pure: time comes in as `now`, nothing is read or written.

The rules we follow (protocols.md C9, reliability.md F11):

* A counter that goes down was reset (the gateway restarted); the value after the reset is the
  increase since it, as in PromQL's `correctForCounterResets`. A restart is never a spike or a drop.
* A series needs two samples to have an increase. A series first seen in the newer scrape has
  none (PromQL has no rate for a single sample either).
* A scrape that is missing (source down for a while) is not a reset: the next sample is compared
  with the last one seen, however long ago.
* Increases are taken per series first and summed afterwards (`sum(rate(...))`, never
  `rate(sum(...))`), otherwise one instance's restart would look like a drop of the total.
* NaN and ±Inf samples are ignored, as if the series were missing from that scrape.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from bot.alerts.engine.model import Labels, Scrape

SeriesFilter = Callable[[Labels], bool]
"""Decides whether a series (by its labels) takes part in a computation."""

BUCKET_BOUND_LABEL = "le"


def has_labels(required: Labels) -> SeriesFilter:
    """A filter keeping series whose labels equal `required` (PromQL `{a="x"}`; "" means absent)."""

    def matches(labels: Labels) -> bool:
        present = dict(labels)
        return all(present.get(name, "") == value for name, value in required)

    return matches


def series_values(
    scrape: Scrape, metric: str, match: SeriesFilter | None = None
) -> dict[Labels, float]:
    """The finite value of every series named `metric` in one scrape, by labels."""
    values: dict[Labels, float] = {}
    for sample in scrape.samples:
        if sample.name != metric or not math.isfinite(sample.value):
            continue
        if match is not None and not match(sample.labels):
            continue
        values[sample.labels] = sample.value
    return values


def counter_delta(previous: float, current: float) -> float:
    """How much a counter grew between two samples; a decrease is a reset (PromQL semantics)."""
    if current >= previous:
        return current - previous
    # After a reset the counter restarted from zero, so everything it holds now is new. A negative
    # "counter" is not a counter at all; it must not produce a negative increase.
    return max(current, 0.0)


def increases_over(
    scrapes: Iterable[Scrape], metric: str, match: SeriesFilter | None = None
) -> dict[Labels, float]:
    """Sum each series' increases over consecutive samples of it in `scrapes` (oldest first).

    A series missing from a scrape in the middle is compared, at its next appearance, with its
    last value seen: a gap is not a reset. Series sampled fewer than twice have no entry; a series
    sampled twice without change has an entry of 0.0, so "no traffic" and "no data" stay distinct.
    """
    last_seen: dict[Labels, float] = {}
    totals: dict[Labels, float] = {}
    for scrape in scrapes:
        for labels, value in series_values(scrape, metric, match).items():
            previous = last_seen.get(labels)
            if previous is not None:
                totals[labels] = totals.get(labels, 0.0) + counter_delta(previous, value)
            last_seen[labels] = value
    return totals


def increase(
    older: Scrape, newer: Scrape, metric: str, match: SeriesFilter | None = None
) -> dict[Labels, float]:
    """Per-series increase of counter `metric` from `older` to `newer`, with reset handling."""
    return increases_over((older, newer), metric, match)


def scrapes_between(
    history: Sequence[Scrape], start: dt.datetime, end: dt.datetime
) -> Sequence[Scrape]:
    """The scrapes taken in the closed interval [start, end]; `history` must be oldest first.

    Both ends are closed so that polls every 60 s and a 5 min window give six scrapes, five
    intervals and the full five minutes (a half-open range would cover only four).
    """
    first = bisect.bisect_left(history, start, key=_taken_at)
    last = bisect.bisect_right(history, end, key=_taken_at)
    return history[first:last]


def window_scrapes(
    history: Sequence[Scrape], window: dt.timedelta, now: dt.datetime
) -> Sequence[Scrape] | None:
    """The scrapes in [now - window, now], or None when fewer than two (no increase is knowable)."""
    scrapes = scrapes_between(history, now - window, now)
    return scrapes if len(scrapes) >= 2 else None


def window_increase(
    history: Sequence[Scrape],
    window: dt.timedelta,
    now: dt.datetime,
    metric: str,
    match: SeriesFilter | None = None,
) -> dict[Labels, float] | None:
    """Per-series increase of `metric` over the scrapes in [now - window, now].

    None when the window holds fewer than two scrapes: an unknown increase is not a zero one.
    Nothing is extrapolated to the window's edges; use `window_rate` to compare windows that
    are covered unevenly.
    """
    scrapes = window_scrapes(history, window, now)
    if scrapes is None:
        return None
    return increases_over(scrapes, metric, match)


def covered_seconds(scrapes: Sequence[Scrape]) -> float:
    """Seconds between the first and the last scrape: the time the increases really span."""
    if len(scrapes) < 2:
        return 0.0
    return (scrapes[-1].at - scrapes[0].at).total_seconds()


def window_rate(
    history: Sequence[Scrape],
    window: dt.timedelta,
    now: dt.datetime,
    metric: str,
    match: SeriesFilter | None = None,
    by: Sequence[str] = (),
) -> dict[Labels, float] | None:
    """Per-second increase of `metric` over the window, summed by the `by` labels.

    The divisor is the time the scrapes actually span, not the nominal window, so a window that
    is only partly covered (the bot started recently, the source was down) still gives a fair rate.
    None when the window holds fewer than two scrapes or they were all taken at the same instant.
    """
    scrapes = window_scrapes(history, window, now)
    if scrapes is None:
        return None
    seconds = covered_seconds(scrapes)
    if seconds <= 0:
        return None
    totals = sum_by(increases_over(scrapes, metric, match), by)
    return {scope: total / seconds for scope, total in totals.items()}


def project(labels: Labels, by: Sequence[str]) -> Labels:
    """Keep only the `by` labels (PromQL `sum by`); empty values are dropped, as PromQL does."""
    return tuple((name, value) for name, value in labels if name in by and value != "")


def sum_by(values: Mapping[Labels, float], by: Sequence[str] = ()) -> dict[Labels, float]:
    """Sum per-series values into groups keyed by the `by` labels; `by=()` gives one group `()`."""
    sums: dict[Labels, float] = {}
    for labels, value in values.items():
        scope = project(labels, by)
        sums[scope] = sums.get(scope, 0.0) + value
    return sums


def parse_bucket_bound(text: str) -> float | None:
    """The upper bound a bucket's `le` label stands for ("0.25", "1e0", "+Inf"), or None."""
    try:
        bound = float(text.strip())
    except ValueError:
        return None
    return None if math.isnan(bound) else bound


def bucket_increases(
    history: Sequence[Scrape],
    window: dt.timedelta,
    now: dt.datetime,
    bucket_metric: str,
    match: SeriesFilter | None = None,
    by: Sequence[str] = (),
) -> dict[Labels, dict[float, float]] | None:
    """Cumulative bucket increases over the window, summed by `le` within each `by` scope.

    This is `sum by (le, <by>) (increase(<bucket_metric>[window]))`, ready for
    `histogram_quantile`. Bucket series whose `le` is not a number are skipped. None when the
    window holds fewer than two scrapes.
    """
    per_series = window_increase(history, window, now, bucket_metric, match)
    if per_series is None:
        return None
    scopes: dict[Labels, dict[float, float]] = {}
    for labels, delta in per_series.items():
        bound = parse_bucket_bound(dict(labels).get(BUCKET_BOUND_LABEL, ""))
        if bound is None:
            continue
        buckets = scopes.setdefault(project(labels, by), {})
        # Bounds written differently ("0.2", "2e-1") are the same bucket, as PromQL coalesces them.
        buckets[bound] = buckets.get(bound, 0.0) + delta
    return scopes


# Relative difference under which two neighbouring bucket counts are taken as equal: summing
# rates of many series can leave a higher bucket a few ulps below a lower one.
_PRECISION_TOLERANCE = 1e-12


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """The φ-quantile of a classic histogram, exactly as PromQL's `histogram_quantile` computes it.

    `buckets` maps each upper bound (`le`) to its cumulative count. Like Prometheus
    (promql/quantile.go `bucketQuantile`):

    * q NaN → NaN; q < 0 → -Inf; q > 1 → +Inf;
    * no `+Inf` bucket, fewer than two buckets, or zero observations → NaN;
    * counts are forced monotonic (differences within 1e-12 relative are treated as rounding,
      then any decrease is lifted to the running maximum);
    * rank = q · count(+Inf); the first bucket whose count reaches the rank holds the quantile,
      which is interpolated linearly between that bucket's lower and upper bound — the lower
      bound of the lowest bucket is 0 when its upper bound is positive, and a lowest bucket with
      an upper bound ≤ 0 returns that bound;
    * when the rank falls in the `+Inf` bucket the second-highest bound is returned.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted((bound, count) for bound, count in buckets.items() if not math.isnan(bound))
    if not ordered or ordered[-1][0] != math.inf:
        return math.nan
    bounds = [bound for bound, _ in ordered]
    counts = _monotonic(_without_rounding_noise([count for _, count in ordered]))
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    # First finite bucket whose cumulative count reaches the rank; len-1 means the +Inf bucket.
    holder = bisect.bisect_left(counts, rank, hi=len(counts) - 1)
    if holder == len(bounds) - 1:
        return bounds[-2]
    if holder == 0 and bounds[0] <= 0:
        return bounds[0]
    lower, upper, in_bucket = 0.0, bounds[holder], counts[holder]
    if holder > 0:
        lower = bounds[holder - 1]
        in_bucket -= counts[holder - 1]
        rank -= counts[holder - 1]
    if in_bucket == 0:
        # Only q = 0 with an empty lowest bucket gets here; Go's 0/0 gives NaN.
        return math.nan
    return lower + (upper - lower) * (rank / in_bucket)


def _without_rounding_noise(counts: list[float]) -> list[float]:
    """Prometheus's `correctPrecisionErrors`: a tiny relative difference is no difference."""
    fixed = list(counts)
    previous = fixed[0]
    for index in range(1, len(fixed)):
        current = fixed[index]
        difference = abs(current - previous)
        if difference == 0:
            continue
        relative = difference / current if current != 0 else math.inf
        if relative <= _PRECISION_TOLERANCE:
            fixed[index] = previous
        else:
            previous = current
    return fixed


def _monotonic(counts: list[float]) -> list[float]:
    """Prometheus's `ensureMonotonic`: lift every count to the highest count below it."""
    lifted: list[float] = []
    highest = -math.inf
    for count in counts:
        highest = max(highest, count)
        lifted.append(highest)
    return lifted


def history_to_keep(
    history: Sequence[Scrape], now: dt.datetime, keep: dt.timedelta
) -> Sequence[Scrape]:
    """The part of `history` (oldest first) that windows reaching `keep` back from `now` can use."""
    return history[bisect.bisect_left(history, now - keep, key=_taken_at) :]


def _taken_at(scrape: Scrape) -> dt.datetime:
    return scrape.at
