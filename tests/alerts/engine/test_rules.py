"""Rule definitions and their evaluation over a scrape history, on virtual time."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from bot.alerts.engine.model import Labels, Sample, Scrape, labels_of
from bot.alerts.engine.rules import (
    Comparison,
    CustomQuery,
    ErrorRateQuery,
    GaugeLatencyQuery,
    HistogramLatencyQuery,
    Query,
    Rule,
    TrafficQuery,
    evaluate,
    required_history,
    status_class,
)

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
KONG_REQUESTS = "kong_http_requests_total"


def sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(name=name, labels=labels_of(labels), value=value)


def scrape(at: dt.datetime, *samples: Sample) -> Scrape:
    return Scrape(source_id="gw", at=at, samples=samples)


def scope(**labels: str) -> Labels:
    return labels_of(labels)


def rule(query: Query, threshold: float = 0.05, **options: object) -> Rule:
    return Rule(id="r1", query=query, threshold=threshold, **options)  # type: ignore[arg-type]


def kong_history(per_minute: dict[tuple[str, str], int], minutes: int) -> list[Scrape]:
    """Scrapes one minute apart where each (service, code) series grows by its count a minute."""
    return [
        scrape(
            T0 + m * MINUTE,
            *(
                sample(KONG_REQUESTS, 1000 + rate * m, service=service, code=code)
                for (service, code), rate in per_minute.items()
            ),
        )
        for m in range(minutes + 1)
    ]


# --- status classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("503", 5), ("5", 5), ("5xx", 5), ("404", 4), ("4XX", 4), ("200", 2), ("other", None)],
)
def test_status_class_reads_codes_classes_and_xx_classes(value: str, expected: int | None) -> None:
    """Codes ("503"), Envoy classes ("5") and NGINX Plus/HAProxy classes ("5xx") share a class."""
    assert status_class(value) == expected


# --- error rate -------------------------------------------------------------------------------


def test_error_rate_per_scope() -> None:
    """The error rate is the share of 5xx among all requests, per service."""
    history = kong_history(
        {("a", "200"): 90, ("a", "503"): 6, ("a", "500"): 4, ("b", "200"): 50, ("b", "404"): 50},
        minutes=5,
    )
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code", scope_labels=("service",))
    values = evaluate(rule(query), history, T0 + 5 * MINUTE)
    assert values == pytest.approx({scope(service="a"): 0.10, scope(service="b"): 0.0})


def test_error_rate_can_count_4xx_too() -> None:
    """With include_4xx, client errors count as errors as well."""
    history = kong_history({("b", "200"): 50, ("b", "404"): 50}, minutes=5)
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code", include_4xx=True)
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == {(): 0.5}


def test_error_rate_from_envoy_classes() -> None:
    """Envoy's `envoy_response_code_class="5"` counts as 5xx, all classes as requests."""
    name = "envoy_cluster_upstream_rq_xx"
    history = [
        scrape(
            T0 + m * MINUTE,
            sample(name, 30 * m, envoy_response_code_class="2", envoy_cluster_name="backend"),
            sample(name, 10 * m, envoy_response_code_class="5", envoy_cluster_name="backend"),
        )
        for m in range(3)
    ]
    query = ErrorRateQuery(metric=name, status_label="envoy_response_code_class")
    assert evaluate(rule(query), history, T0 + 2 * MINUTE) == {(): 0.25}


def test_zero_traffic_scope_has_no_error_rate() -> None:
    """A scope without requests in the window has no value at all: not 0 % and not NaN."""
    history = kong_history({("a", "200"): 10, ("idle", "200"): 0, ("idle", "500"): 0}, minutes=5)
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code", scope_labels=("service",))
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == {scope(service="a"): 0.0}


def test_error_rate_needs_two_scrapes_in_the_window() -> None:
    """With fewer than two scrapes in the window the error rate is unknown (None), never 0."""
    history = kong_history({("a", "500"): 10}, minutes=5)
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code")
    assert evaluate(rule(query), history[:1], T0) is None
    assert evaluate(rule(query), history, T0 + 20 * MINUTE) is None


def test_gateway_restart_mid_window_is_no_error_spike() -> None:
    """Counters reset by a restart keep the error rate what it really was (here 2 %)."""
    ok = [1000, 1098, 1196, 98, 196, 294]
    failed = [500, 502, 504, 2, 4, 6]
    history = [
        scrape(
            T0 + m * MINUTE,
            sample(KONG_REQUESTS, ok[m], code="200"),
            sample(KONG_REQUESTS, failed[m], code="500"),
        )
        for m in range(6)
    ]
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code")
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == pytest.approx({(): 0.02})


def test_custom_error_predicate_overrides_the_classes() -> None:
    """An explicit `is_error` predicate decides which statuses are errors."""
    history = kong_history({("a", "200"): 90, ("a", "429"): 10}, minutes=2)
    query = ErrorRateQuery(
        metric=KONG_REQUESTS, status_label="code", is_error=lambda code: code == "429"
    )
    assert evaluate(rule(query), history, T0 + 2 * MINUTE) == pytest.approx({(): 0.1})


# --- latency ----------------------------------------------------------------------------------


def latency_history(name: str, bounds: list[str], per_minute: list[int]) -> list[Scrape]:
    """Histogram scrapes where each bucket (cumulative) grows by its count a minute."""
    return [
        scrape(
            T0 + m * MINUTE,
            *(
                sample(f"{name}_bucket", count * m, service="api", le=bound)
                for bound, count in zip(bounds, per_minute, strict=True)
            ),
        )
        for m in range(6)
    ]


def test_latency_percentile_from_a_millisecond_histogram() -> None:
    """p95 from Kong's millisecond buckets is reported in milliseconds."""
    history = latency_history(
        "kong_request_latency_ms", ["100", "300", "1200", "5000", "+Inf"], [50, 80, 100, 100, 100]
    )
    query = HistogramLatencyQuery(
        histogram="kong_request_latency_ms", unit_seconds=0.001, quantile=0.95
    )
    # rank 95 of 100 falls in (300, 1200] holding 20: 300 + 900 * 15/20.
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == pytest.approx({(): 975.0})


def test_latency_percentile_from_a_seconds_histogram_is_converted_to_ms() -> None:
    """The same distribution in Traefik's second buckets gives the same milliseconds."""
    name = "traefik_service_request_duration_seconds"
    history = latency_history(name, ["0.1", "0.3", "1.2", "5", "+Inf"], [50, 80, 100, 100, 100])
    query = HistogramLatencyQuery(histogram=name, unit_seconds=1.0, scope_labels=("service",))
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == pytest.approx(
        {scope(service="api"): 975.0}
    )


def test_latency_p50_and_p99() -> None:
    """Other percentiles come from the same buckets (p99 in the +Inf bucket: highest bound)."""
    name = "kong_request_latency_ms"
    history = latency_history(name, ["100", "300", "+Inf"], [50, 90, 100])
    p50 = HistogramLatencyQuery(histogram=name, unit_seconds=0.001, quantile=0.5)
    p99 = HistogramLatencyQuery(histogram=name, unit_seconds=0.001, quantile=0.99)
    assert evaluate(rule(p50), history, T0 + 5 * MINUTE) == pytest.approx({(): 100.0})
    assert evaluate(rule(p99), history, T0 + 5 * MINUTE) == pytest.approx({(): 300.0})


def test_latency_scope_without_observations_has_no_value() -> None:
    """A histogram that observed nothing in the window gives no percentile, not NaN."""
    name = "kong_request_latency_ms"
    history = latency_history(name, ["100", "+Inf"], [0, 0])
    query = HistogramLatencyQuery(histogram=name, unit_seconds=0.001)
    assert evaluate(rule(query), history, T0 + 5 * MINUTE) == {}


def test_latency_from_a_gauge_takes_the_latest_worst_value_in_ms() -> None:
    """A latency gauge gives its latest value per scope (worst series), converted to ms."""
    name = "haproxy_backend_response_time_average_seconds"
    history = [
        scrape(T0, sample(name, 9.0, proxy="api")),
        scrape(
            T0 + MINUTE,
            sample(name, 0.25, proxy="api", server="1"),
            sample(name, 0.5, proxy="api", server="2"),
        ),
    ]
    query = GaugeLatencyQuery(metric=name, unit_seconds=1.0, scope_labels=("proxy",))
    assert evaluate(rule(query), history, T0 + 2 * MINUTE) == {scope(proxy="api"): 500.0}


def test_a_stale_gauge_is_no_value() -> None:
    """A gauge last scraped longer ago than the lookback is unknown, not current."""
    name = "haproxy_backend_response_time_average_seconds"
    history = [scrape(T0, sample(name, 0.2))]
    query = GaugeLatencyQuery(metric=name, unit_seconds=1.0)
    assert evaluate(rule(query), history, T0 + 4 * MINUTE) == pytest.approx({(): 200.0})
    assert evaluate(rule(query), history, T0 + 6 * MINUTE) is None


# --- traffic ----------------------------------------------------------------------------------


def traffic_history(
    start: dt.datetime, minutes: int, per_minute: int, base: int = 0
) -> list[Scrape]:
    return [
        scrape(start + m * MINUTE, sample(KONG_REQUESTS, base + per_minute * m, service="api"))
        for m in range(minutes + 1)
    ]


def test_traffic_compared_with_the_same_window_a_day_earlier() -> None:
    """The value is current/baseline requests per second, the baseline a day earlier."""
    now = T0 + DAY
    history = traffic_history(T0 - 15 * MINUTE, 15, 600) + traffic_history(
        now - 15 * MINUTE, 15, 150, base=10_000
    )
    query = TrafficQuery(metric=KONG_REQUESTS, window=15 * MINUTE, scope_labels=("service",))
    assert evaluate(rule(query, 0.5, comparison=Comparison.BELOW), history, now) == pytest.approx(
        {scope(service="api"): 0.25}
    )


def test_traffic_without_history_a_day_back_is_unknown() -> None:
    """Without scrapes from a day earlier there is no baseline, so no value (None)."""
    history = traffic_history(T0, 120, 100)
    query = TrafficQuery(metric=KONG_REQUESTS, window=15 * MINUTE, compare_with=DAY)
    assert evaluate(rule(query, 0.5), history, T0 + 120 * MINUTE) is None


def test_restart_during_the_window_is_no_traffic_drop() -> None:
    """A counter reset in the current window leaves the ratio to yesterday at 1."""
    now = T0 + DAY
    values = [5000 + 100 * m for m in range(8)] + [100 * m for m in range(1, 9)]
    today = [
        scrape(now - 15 * MINUTE + m * MINUTE, sample(KONG_REQUESTS, v))
        for m, v in enumerate(values)
    ]
    history = traffic_history(T0 - 15 * MINUTE, 15, 100) + today
    query = TrafficQuery(metric=KONG_REQUESTS, window=15 * MINUTE)
    assert evaluate(rule(query, 0.5), history, now) == pytest.approx({(): 1.0})


def test_quiet_baseline_gives_no_ratio() -> None:
    """Scopes whose baseline rate is zero or under min_baseline_rate have no value."""
    now = T0 + DAY
    history = traffic_history(T0 - 15 * MINUTE, 15, 6) + traffic_history(now - 15 * MINUTE, 15, 0)
    query = TrafficQuery(metric=KONG_REQUESTS, window=15 * MINUTE, min_baseline_rate=1.0)
    assert evaluate(rule(query, 0.5), history, now) == {}


def test_traffic_against_an_absolute_floor_is_the_current_rate() -> None:
    """Without a comparison window the value is requests per second, for a floor threshold."""
    history = traffic_history(T0, 15, 120)
    query = TrafficQuery(metric=KONG_REQUESTS, window=15 * MINUTE, compare_with=None)
    assert query.unit == "req/s"
    assert evaluate(rule(query, 1.0), history, T0 + 15 * MINUTE) == {(): 2.0}


# --- custom query -----------------------------------------------------------------------------


def test_custom_query_reads_samples_named_after_the_rule() -> None:
    """A custom rule's value per label set comes straight from samples named after its id."""
    history = [
        scrape(T0, sample("r1", 7.0, job="a")),
        scrape(
            T0 + MINUTE,
            sample("r1", 3.0, job="a"),
            sample("r1", math.nan, job="b"),
            sample("other", 1.0, job="a"),
        ),
    ]
    query = CustomQuery(promql="sum by (job) (rate(errors_total[5m]))")
    assert evaluate(rule(query), history, T0 + 2 * MINUTE) == {scope(job="a"): 3.0}
    assert evaluate(rule(query), history, T0 + 10 * MINUTE) is None


# --- rule definitions -------------------------------------------------------------------------


def test_resolve_threshold_defaults_to_the_threshold_and_must_lie_on_the_good_side() -> None:
    """The resolve threshold defaults to the threshold and is never on the bad side of it."""
    query = ErrorRateQuery(metric=KONG_REQUESTS, status_label="code")
    assert rule(query, 0.05).clear_threshold == 0.05
    assert rule(query, 0.05, resolve_threshold=0.03).clear_threshold == 0.03
    with pytest.raises(ValueError, match="resolve_threshold"):
        rule(query, 0.05, resolve_threshold=0.08)
    with pytest.raises(ValueError, match="resolve_threshold"):
        rule(query, 0.5, comparison=Comparison.BELOW, resolve_threshold=0.4)


def test_breach_is_strict_and_clearing_includes_the_resolve_threshold() -> None:
    """ABOVE breaches strictly above the threshold and clears at or below the resolve threshold."""
    above = rule(ErrorRateQuery(metric="m", status_label="code"), 0.05, resolve_threshold=0.03)
    assert not above.breaches(0.05) and above.breaches(0.0501)
    assert above.clears(0.03) and not above.clears(0.04)
    below = rule(TrafficQuery(metric="m"), 0.5, comparison=Comparison.BELOW)
    assert below.breaches(0.49) and not below.breaches(0.5) and below.clears(0.5)


def test_invalid_definitions_are_refused() -> None:
    """Nonsense windows, units and quantiles fail when the rule is built, not when it runs."""
    with pytest.raises(ValueError):
        ErrorRateQuery(metric="m", status_label="code", window=dt.timedelta(0))
    with pytest.raises(ValueError):
        HistogramLatencyQuery(histogram="h", unit_seconds=0)
    with pytest.raises(ValueError):
        HistogramLatencyQuery(histogram="h", unit_seconds=1, quantile=95)
    with pytest.raises(ValueError):
        rule(TrafficQuery(metric="m"), math.nan)


def test_required_history_covers_window_and_comparison() -> None:
    """A rule says how much history it reads, so the caller can drop older scrapes."""
    traffic = TrafficQuery(metric="m", window=15 * MINUTE, compare_with=dt.timedelta(weeks=1))
    assert required_history(rule(traffic)) == dt.timedelta(weeks=1) + 15 * MINUTE
    assert required_history(rule(ErrorRateQuery(metric="m", status_label="code"))) == 5 * MINUTE
