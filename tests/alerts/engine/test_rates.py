"""Counter increases, windows, grouping and histogram_quantile, on virtual time."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.engine.model import Sample, Scrape, labels_of
from bot.alerts.engine.rates import (
    bucket_increases,
    has_labels,
    histogram_quantile,
    history_to_keep,
    increase,
    increases_over,
    sum_by,
    window_increase,
    window_rate,
)

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
REQUESTS = "kong_http_requests_total"
INF = math.inf


def sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(name=name, labels=labels_of(labels), value=value)


def scrape(at: dt.datetime, *samples: Sample) -> Scrape:
    return Scrape(source_id="gw", at=at, samples=samples)


def requests_at(minute: int, value: float, **labels: str) -> Scrape:
    return scrape(T0 + minute * MINUTE, sample(REQUESTS, value, **labels))


def series(**labels: str) -> tuple[tuple[str, str], ...]:
    return labels_of(labels)


# --- increase between two scrapes -------------------------------------------------------------


def test_increase_is_the_difference_per_series() -> None:
    """Each series' increase is its newer value minus its older value."""
    older = scrape(T0, sample(REQUESTS, 10, code="200"), sample(REQUESTS, 1, code="500"))
    newer = scrape(T0 + MINUTE, sample(REQUESTS, 25, code="200"), sample(REQUESTS, 3, code="500"))
    assert increase(older, newer, REQUESTS) == {series(code="200"): 15, series(code="500"): 2}


def test_a_decrease_is_a_reset_and_the_new_value_is_the_increase() -> None:
    """A counter that went down was reset, so its whole new value counts (PromQL semantics)."""
    assert increase(requests_at(0, 1000), requests_at(1, 40), REQUESTS) == {(): 40}


def test_series_new_in_the_newer_scrape_has_no_increase() -> None:
    """A series first seen in the newer scrape has no increase, as PromQL has no rate for it."""
    older = scrape(T0, sample(REQUESTS, 10, code="200"))
    newer = scrape(T0 + MINUTE, sample(REQUESTS, 12, code="200"), sample(REQUESTS, 7, code="503"))
    assert increase(older, newer, REQUESTS) == {series(code="200"): 2}


def test_non_finite_samples_are_ignored() -> None:
    """NaN and infinite samples count as missing rather than poisoning the sums."""
    older = scrape(T0, sample(REQUESTS, 10, code="200"), sample(REQUESTS, 5, code="500"))
    newer = scrape(
        T0 + MINUTE, sample(REQUESTS, math.nan, code="200"), sample(REQUESTS, INF, code="500")
    )
    assert increase(older, newer, REQUESTS) == {}


def test_only_matching_series_take_part() -> None:
    """The label filter keeps series whose labels equal the required ones ("" means absent)."""
    older = scrape(T0, sample(REQUESTS, 1, source="service"), sample(REQUESTS, 1, source="kong"))
    newer = scrape(
        T0 + MINUTE, sample(REQUESTS, 4, source="service"), sample(REQUESTS, 9, source="kong")
    )
    only_upstream = has_labels(series(source="service"))
    assert increase(older, newer, REQUESTS, only_upstream) == {series(source="service"): 3}
    assert increase(older, newer, REQUESTS, has_labels(series(route=""))) == {
        series(source="service"): 3,
        series(source="kong"): 8,
    }


# --- windows ----------------------------------------------------------------------------------


def test_counter_reset_mid_window_gives_neither_spike_nor_drop() -> None:
    """A gateway restart (HAProxy, Kong…) mid-window still sums to the true number of requests."""
    # 100 requests a minute; the gateway restarts between minutes 2 and 3 and counts from 0.
    history = [requests_at(m, v) for m, v in enumerate([1000, 1100, 1200, 100, 200, 300])]
    assert window_increase(history, 5 * MINUTE, T0 + 5 * MINUTE, REQUESTS) == {(): 500}
    assert window_rate(history, 5 * MINUTE, T0 + 5 * MINUTE, REQUESTS) == {(): 100 / 60}


def test_missing_scrapes_are_a_gap_not_a_reset() -> None:
    """Polls that failed leave a gap; the next sample is compared with the last one seen."""
    history = [requests_at(0, 100), requests_at(1, 160), requests_at(4, 340), requests_at(5, 400)]
    assert window_increase(history, 5 * MINUTE, T0 + 5 * MINUTE, REQUESTS) == {(): 300}


def test_series_missing_from_one_scrape_continues_from_its_last_value() -> None:
    """A series absent from a middle scrape resumes from its last value: nothing lost or doubled."""
    history = [
        scrape(T0, sample(REQUESTS, 10, code="500"), sample(REQUESTS, 0, code="200")),
        scrape(T0 + MINUTE, sample(REQUESTS, 5, code="200")),
        scrape(T0 + 2 * MINUTE, sample(REQUESTS, 30, code="500"), sample(REQUESTS, 9, code="200")),
    ]
    assert window_increase(history, 2 * MINUTE, T0 + 2 * MINUTE, REQUESTS) == {
        series(code="500"): 20,
        series(code="200"): 9,
    }


def test_a_series_without_traffic_has_a_zero_increase_not_none() -> None:
    """A series sampled twice without change has increase 0, distinct from "no data"."""
    history = [requests_at(0, 50), requests_at(1, 50)]
    assert window_increase(history, 5 * MINUTE, T0 + MINUTE, REQUESTS) == {(): 0.0}


def test_fewer_than_two_scrapes_in_the_window_is_unknown() -> None:
    """With fewer than two scrapes in the window there is no increase at all (None), never 0."""
    history = [requests_at(0, 10), requests_at(10, 20)]
    assert window_increase(history, 5 * MINUTE, T0 + 10 * MINUTE, REQUESTS) is None
    assert window_increase([], 5 * MINUTE, T0, REQUESTS) is None
    assert window_rate(history, 5 * MINUTE, T0 + 10 * MINUTE, REQUESTS) is None


def test_window_includes_both_ends_and_nothing_after_now() -> None:
    """The window is [now - window, now]: both edges count, later scrapes do not."""
    history = [requests_at(m, 100 * m) for m in range(8)]
    assert window_increase(history, 5 * MINUTE, T0 + 6 * MINUTE, REQUESTS) == {(): 500}


def test_rate_divides_by_the_time_actually_covered() -> None:
    """A partly covered window (recent start) gives the true per-second rate, not a diluted one."""
    history = [requests_at(0, 0), requests_at(1, 120), requests_at(2, 240)]
    assert window_rate(history, 15 * MINUTE, T0 + 2 * MINUTE, REQUESTS) == {(): 2.0}


def test_rates_are_summed_by_scope_labels() -> None:
    """`by` sums per-series rates into one value per scope, like `sum by (service)`."""
    history = [
        scrape(
            T0 + m * MINUTE,
            sample(REQUESTS, 60 * m, service="a", code="200"),
            sample(REQUESTS, 60 * m, service="a", code="500"),
            sample(REQUESTS, 120 * m, service="b", code="200"),
        )
        for m in range(3)
    ]
    rates = window_rate(history, 5 * MINUTE, T0 + 2 * MINUTE, REQUESTS, by=("service",))
    assert rates == {series(service="a"): 2.0, series(service="b"): 2.0}


def test_sum_by_drops_labels_not_grouped_on_and_empty_values() -> None:
    """Grouping keeps only the `by` labels, and an empty value is the same as no label (PromQL)."""
    values = {
        series(service="a", code="200"): 1.0,
        series(service="a", code="500"): 2.0,
        series(service="", code="200"): 4.0,
        series(code="404"): 8.0,
    }
    assert sum_by(values, ("service",)) == {series(service="a"): 3.0, (): 12.0}
    assert sum_by(values) == {(): 15.0}


def test_bucket_increases_are_grouped_by_le_within_each_scope() -> None:
    """Bucket increases are summed per `le` (written any way) within each scope."""
    name = "apisix_http_latency_bucket"

    def at(minute: int, factor: int) -> Scrape:
        return scrape(
            T0 + minute * MINUTE,
            sample(name, 1 * factor, route="1", node="x", le="0.2"),
            sample(name, 2 * factor, route="1", node="y", le="2e-1"),
            sample(name, 5 * factor, route="1", node="x", le="+Inf"),
            sample(name, 3 * factor, route="2", node="x", le="+Inf"),
            sample(name, 3 * factor, route="2", node="x", le="not-a-number"),
        )

    buckets = bucket_increases([at(0, 1), at(1, 3)], 5 * MINUTE, T0 + MINUTE, name, by=("route",))
    assert buckets == {series(route="1"): {0.2: 6.0, INF: 10.0}, series(route="2"): {INF: 6.0}}


def test_history_to_keep_drops_what_no_window_reaches() -> None:
    """Only scrapes from `now - keep` on are kept."""
    history = [requests_at(m, m) for m in range(10)]
    assert history_to_keep(history, T0 + 9 * MINUTE, 3 * MINUTE) == history[6:]


@given(st.lists(st.floats(min_value=-10, max_value=1e9, allow_nan=False), max_size=30))
def test_increases_are_never_negative(values: list[float]) -> None:
    """Whatever a counter does, its increase over any sequence of scrapes is never negative."""
    history = [requests_at(m, v) for m, v in enumerate(values)]
    assert all(delta >= 0 for delta in increases_over(history, REQUESTS).values())


# --- histogram_quantile -----------------------------------------------------------------------
# Expected values are Prometheus's own (promql/promqltest/testdata/histograms.test).

POSITIVE = {0.1: 50, 0.2: 70, 1.0: 110, INF: 120}  # testhistogram{start="positive"} at 50m
NEGATIVE = {-0.2: 10, -0.1: 20, 0.3: 20, INF: 30}  # testhistogram{start="negative"}
POSITIVE_3 = {0.0: 0, 0.1: 50, 0.2: 70, 1.0: 110, INF: 110}  # testhistogram3{start="positive"}
NEGATIVE_3 = {-0.25: 0, -0.2: 10, -0.1: 20, 0.3: 20, INF: 20}  # testhistogram3{start="negative"}
MIDDLES = {0.0: 0, 2.0: 1, 4.0: 2, 6.0: 3, INF: 3}  # testhistogram2
# sum by (le) (rate(request_duration_seconds_bucket[10m])), up to a common factor
AGGREGATED = {0.1: 10, 0.2: 19, INF: 25}


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.0, POSITIVE, 0.0),
        (0.0, NEGATIVE, -0.2),
        (1.0, POSITIVE, 1.0),
        (1.0, NEGATIVE, 0.3),
        (0.2, POSITIVE, 0.048),
        (0.2, NEGATIVE, -0.2),
        (0.5, POSITIVE, 0.15),
        (0.5, NEGATIVE, -0.15),
        (0.8, POSITIVE, 0.72),
        (0.8, NEGATIVE, 0.3),
        (0.0, POSITIVE_3, 0.0),
        (0.0, NEGATIVE_3, -0.25),
        (0.25, POSITIVE_3, 0.055),
        (0.25, NEGATIVE_3, -0.225),
        (0.5, POSITIVE_3, 0.125),
        (0.5, NEGATIVE_3, -0.2),
        (0.75, POSITIVE_3, 0.45),
        (0.75, NEGATIVE_3, -0.15),
        (1.0, POSITIVE_3, 1.0),
        (1.0, NEGATIVE_3, -0.1),
        (1 / 6, MIDDLES, 1.0),
        (0.5, MIDDLES, 3.0),
        (5 / 6, MIDDLES, 5.0),
        (0.3, AGGREGATED, 0.075),
        (0.5, AGGREGATED, 0.1277777777777778),
    ],
)
def test_histogram_quantile_matches_prometheus(
    q: float, buckets: dict[float, float], expected: float
) -> None:
    """histogram_quantile gives the values Prometheus's own test suite expects."""
    assert histogram_quantile(q, buckets) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_quantile_outside_zero_one_is_infinite_and_nan_q_is_nan() -> None:
    """q < 0 gives -Inf, q > 1 gives +Inf and q = NaN gives NaN, as in PromQL."""
    assert histogram_quantile(-0.1, POSITIVE) == -INF
    assert histogram_quantile(1.01, POSITIVE) == INF
    assert math.isnan(histogram_quantile(math.nan, POSITIVE))


@pytest.mark.parametrize(
    "buckets",
    [
        {0.1: 5, 1.0: 10},  # no +Inf bucket
        {INF: 10},  # fewer than two buckets
        {0.1: 0, 1.0: 0, INF: 0},  # no observations
        {},
    ],
)
def test_undefined_quantiles_are_nan(buckets: dict[float, float]) -> None:
    """No +Inf bucket, fewer than two buckets or no observations give NaN."""
    assert math.isnan(histogram_quantile(0.95, buckets))


def test_rank_in_the_inf_bucket_returns_the_second_highest_bound() -> None:
    """When the rank falls in the +Inf bucket the answer is the highest finite bound."""
    assert histogram_quantile(0.99, {100.0: 10, 250.0: 50, INF: 100}) == 250.0


def test_non_monotonic_buckets_are_forced_monotonic() -> None:
    """A bucket lower than the one below it is lifted to it before the search."""
    # Lifted to {1: 10, 2: 10, 3: 20, +Inf: 20}: rank 15 lies halfway through the (2, 3] bucket.
    assert histogram_quantile(0.75, {1.0: 10, 2.0: 4, 3.0: 20, INF: 20}) == 2.5


def test_quantile_zero_with_an_empty_lowest_bucket_is_nan() -> None:
    """q = 0 with an empty lowest positive bucket is 0/0 in Prometheus, hence NaN."""
    assert math.isnan(histogram_quantile(0.0, {1.0: 0, 2.0: 4, INF: 4}))


@st.composite
def histograms(draw: st.DrawFn) -> dict[float, float]:
    """Sorted finite bounds with cumulative counts and a +Inf bucket; at least one observation."""
    bounds = draw(
        st.lists(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    per_bucket = draw(
        st.lists(st.integers(0, 1000), min_size=len(bounds) + 1, max_size=len(bounds) + 1)
    )
    if sum(per_bucket) == 0:
        per_bucket[-1] = 1
    cumulative, total = {}, 0
    for bound, count in zip([*sorted(bounds), INF], per_bucket, strict=True):
        total += count
        cumulative[bound] = float(total)
    return cumulative


def _holding_bucket(q: float, buckets: dict[float, float]) -> tuple[float, float]:
    """Bounds (lower, upper) of the bucket Prometheus interpolates in, found by a linear scan."""
    ordered = sorted(buckets.items())
    rank = q * ordered[-1][1]
    for index, (bound, count) in enumerate(ordered[:-1]):
        if count >= rank:
            if index == 0:
                return (min(0.0, bound), bound)
            return (ordered[index - 1][0], bound)
    second_highest = ordered[-2][0]
    return (second_highest, second_highest)


def _close_to_or_below(a: float, b: float) -> bool:
    return a <= b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@given(histograms(), st.floats(min_value=0, max_value=1, exclude_min=True))
def test_quantile_lies_within_the_bucket_holding_the_rank(
    buckets: dict[float, float], q: float
) -> None:
    """The result lies between the bounds of the bucket that holds the rank."""
    lower, upper = _holding_bucket(q, buckets)
    result = histogram_quantile(q, buckets)
    assert _close_to_or_below(lower, result)
    assert _close_to_or_below(result, upper)


@given(
    histograms(),
    st.floats(min_value=0, max_value=1, exclude_min=True),
    st.floats(min_value=0, max_value=1, exclude_min=True),
)
def test_quantile_is_monotonic_in_q(buckets: dict[float, float], q1: float, q2: float) -> None:
    """A higher q never gives a lower quantile."""
    low, high = sorted((q1, q2))
    assert _close_to_or_below(histogram_quantile(low, buckets), histogram_quantile(high, buckets))
