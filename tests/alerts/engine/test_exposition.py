"""parse_exposition: library parsing, exposed names kept, and anything untrustworthy refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.alerts.engine.exposition import ExpositionError, parse_exposition
from bot.alerts.engine.model import Sample, labels_of

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _content_type(name: str) -> str:
    return OPENMETRICS if name.endswith(".om") else TEXT


def _one(samples: tuple[Sample, ...], name: str, **labels: str) -> Sample:
    wanted = labels_of(labels)
    found = [s for s in samples if s.name == name and set(wanted) <= set(s.labels)]
    assert len(found) == 1, f"{name}{labels}: {len(found)} matches"
    return found[0]


GOOD = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".prom", ".om"))
GOOD = [name for name in GOOD if not name.startswith("garbage_")]


@pytest.mark.parametrize("name", GOOD)
def test_every_gateway_fixture_parses(name: str) -> None:
    """Each gateway fixture parses into unique series without any error."""
    samples = parse_exposition(_load(name), _content_type(name))
    assert len(samples) > 20
    assert len({(s.name, s.labels) for s in samples}) == len(samples)


def test_text_counter_without_total_keeps_its_exposed_name() -> None:
    """Envoy's `envoy_cluster_upstream_rq_xx` is not renamed to `..._total` by the text parser."""
    samples = parse_exposition(_load("envoy.prom"), TEXT)
    names = {s.name for s in samples}
    assert "envoy_cluster_upstream_rq_xx" in names
    assert "envoy_cluster_upstream_rq_xx_total" not in names


def test_envoy_rq_and_rq_total_families_stay_apart() -> None:
    """`envoy_cluster_upstream_rq{code}` keeps its name next to the real `..._rq_total` family."""
    samples = parse_exposition(_load("envoy.prom"), TEXT)
    per_code = _one(samples, "envoy_cluster_upstream_rq", envoy_response_code="503")
    assert per_code.value == 12
    total = [s for s in samples if s.name == "envoy_cluster_upstream_rq_total"]
    assert [dict(s.labels) for s in total] == [
        {"envoy_cluster_name": "backend"},
        {"envoy_cluster_name": "auth"},
    ]


def test_text_counter_with_total_is_unchanged() -> None:
    """A counter declared as `kong_http_requests_total` keeps that name and its value."""
    samples = parse_exposition(_load("kong_3.prom"), TEXT)
    sample = _one(samples, "kong_http_requests_total", service="orders", code="503")
    assert sample.value == 12
    assert dict(sample.labels)["workspace"] == "default"


def test_openmetrics_keeps_total_and_created_samples() -> None:
    """OpenMetrics counter samples keep `_total`, and `_created` samples are kept as exposed."""
    samples = parse_exposition(_load("traefik_3.om"), OPENMETRICS)
    names = {s.name for s in samples}
    assert {"traefik_service_requests_total", "traefik_service_requests_created"} <= names
    assert "traefik_service_requests" not in names


def test_text_and_openmetrics_forms_agree() -> None:
    """The same Traefik data in text and OpenMetrics form gives the same non-`_created` samples."""
    text = parse_exposition(_load("traefik_3.prom"), TEXT)
    om = parse_exposition(_load("traefik_3.om"), OPENMETRICS)
    assert set(text) == {s for s in om if not s.name.endswith("_created")}


def test_real_haproxy_nan_counters_are_dropped_and_nan_gauges_kept() -> None:
    """HAProxy's NaN "not applicable" counters vanish; NaN gauges stay for the rules to ignore."""
    samples = parse_exposition(_load("haproxy_2.6.12.prom"), "text/plain; version=0.0.4")
    names = {s.name for s in samples}
    assert "haproxy_server_check_failures_total" not in names
    assert math.isnan(_one(samples, "haproxy_server_limit_sessions", server="app1").value)
    assert _one(samples, "haproxy_backend_http_responses_total", code="5xx").value == 5


def test_missing_content_type_falls_back_by_sniffing() -> None:
    """Without a Content-Type, `# EOF` selects OpenMetrics and anything else the text parser."""
    assert parse_exposition(_load("traefik_3.om"), None)
    assert parse_exposition(_load("envoy.prom"), "") == parse_exposition(_load("envoy.prom"), TEXT)


def test_timestamps_are_dropped() -> None:
    """A sample timestamp is ignored: the value is taken as of the scrape."""
    samples = parse_exposition(b"# TYPE up gauge\nup 1 1763654400000\n", TEXT)
    assert samples == (Sample("up", (), 1.0),)


GARBAGE = {
    "garbage_html_502.html": "text/html; charset=utf-8",
    "garbage_prometheus_api.json": "application/json",
    "garbage_truncated_mid_line.prom": TEXT,
    "garbage_truncated_histogram.prom": TEXT,
    "garbage_inf_counter.prom": TEXT,
    "garbage_nan_bucket.prom": TEXT,
    "garbage_nan_counter.om": OPENMETRICS,
    "garbage_openmetrics_no_eof.om": OPENMETRICS,
    "garbage_duplicate_series.prom": TEXT,
}


@pytest.mark.parametrize(("name", "content_type"), sorted(GARBAGE.items()))
def test_garbage_fixture_is_refused(name: str, content_type: str) -> None:
    """Each garbage fixture raises ExpositionError under its own content type."""
    with pytest.raises(ExpositionError):
        parse_exposition(_load(name), content_type)


@pytest.mark.parametrize("name", ["garbage_html_502.html", "garbage_prometheus_api.json"])
@pytest.mark.parametrize("content_type", [TEXT, None])
def test_html_and_json_are_refused_even_when_labelled_as_text(
    name: str, content_type: str | None
) -> None:
    """An HTML or JSON body is refused however it is labelled."""
    with pytest.raises(ExpositionError, match=r"HTML|JSON"):
        parse_exposition(_load(name), content_type)


def test_html_content_type_is_refused_whatever_the_body() -> None:
    """A `text/html` answer is refused even if its body happens to be a valid exposition."""
    with pytest.raises(ExpositionError, match="content type"):
        parse_exposition(_load("envoy.prom"), "text/html")


def test_non_utf8_is_refused() -> None:
    """A Latin-1 label value makes the body untrustworthy."""
    body = '# TYPE x_total counter\nx_total{route="café"} 1\n'.encode("latin-1")
    with pytest.raises(ExpositionError, match="UTF-8"):
        parse_exposition(body, TEXT)


def test_empty_body_is_refused() -> None:
    """An empty body is a lost body, not a gateway without metrics."""
    with pytest.raises(ExpositionError, match="empty"):
        parse_exposition(b"  \n", TEXT)


@pytest.mark.parametrize("value", ["-Inf", "-3"])
def test_negative_or_minus_inf_bucket_is_refused(value: str) -> None:
    """Histogram bucket counts must be finite and non-negative."""
    body = f'# TYPE h histogram\nh_bucket{{le="1"}} {value}\nh_bucket{{le="+Inf"}} 2\n'
    body += "h_sum 1\nh_count 2\n"
    with pytest.raises(ExpositionError):
        parse_exposition(body.encode(), TEXT)


def test_openmetrics_content_type_with_text_body_is_refused() -> None:
    """A text body served as OpenMetrics lacks `# EOF` and is refused."""
    with pytest.raises(ExpositionError, match="OpenMetrics"):
        parse_exposition(_load("kong_3.prom"), OPENMETRICS)


def test_error_message_does_not_quote_the_body() -> None:
    """The refusal reason never contains the offending line (it may carry body content)."""
    body = b'# TYPE x counter\nx{secret="hunter2" 1\n'
    with pytest.raises(ExpositionError) as info:
        parse_exposition(body, TEXT)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("name", ["kong_3.prom", "traefik_3.om", "haproxy_2.6.12.prom"])
def test_any_truncation_is_refused_or_parsed_never_crashes(name: str) -> None:
    """Cutting a fixture anywhere yields samples or ExpositionError; mid-line cuts are refused."""
    body = _load(name)
    for cut in range(1, len(body), max(1, len(body) // 211)):
        head = body[:cut]
        try:
            parse_exposition(head, _content_type(name))
        except ExpositionError:
            continue
        assert head.endswith(b"\n"), f"cut at {cut} mid-line was accepted"
