"""Smoke tests of the gateway harness: a real HAProxy and Prometheus around a controlled backend."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.alerts.engine.exposition import parse_exposition
from sandbox.gateway.backend import GatewayBackend
from sandbox.gateway.stack import HAProxyGateway, PrometheusServer
from tests.alerts.gateway.conftest import Load

pytestmark = pytest.mark.gateway

RESPONSES = "haproxy_backend_http_responses_total"


def backend_5xx(haproxy: HAProxyGateway) -> float:
    """HAProxy's 5xx response counter for be_app, read from its exporter with the bot's parser."""
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        response = client.get(haproxy.metrics_url)
    response.raise_for_status()
    samples = parse_exposition(response.content, response.headers.get("content-type"))
    values = [
        sample.value
        for sample in samples
        if sample.name == RESPONSES and dict(sample.labels) == {"proxy": "be_app", "code": "5xx"}
    ]
    assert len(values) == 1, f"expected one {RESPONSES} series for be_app 5xx, got {values}"
    return values[0]


def test_traffic_reaches_backend(backend: GatewayBackend, load: Load) -> None:
    """Requests sent to HAProxy's frontend are answered by the test backend."""
    result = load(10)

    assert result.statuses == {200: 10}
    assert backend.requests == 10


def test_errors_show_in_haproxy_counter(
    backend: GatewayBackend, haproxy: HAProxyGateway, load: Load
) -> None:
    """With error_rate=1.0 a burst adds one 5xx per request to HAProxy's be_app counter."""
    before = backend_5xx(haproxy)
    backend.error_rate = 1.0

    result = load(12)

    assert result.count(5) == 12
    assert set(result.statuses) == {500, 502, 503}
    assert backend_5xx(haproxy) - before == 12


def test_error_rate_and_latency_are_obeyed(backend: GatewayBackend, load: Load) -> None:
    """A 25 % error rate fails exactly one request in four, and latency delays every answer."""
    backend.error_rate = 0.25
    backend.latency = 0.2

    started = time.monotonic()
    result = load(8, concurrency=8)
    elapsed = time.monotonic() - started

    assert result.count(5) == 2
    assert result.count(2) == 6
    assert 0.2 <= elapsed < 5.0


def test_restart_resets_counters(
    backend: GatewayBackend, haproxy: HAProxyGateway, load: Load
) -> None:
    """restart() runs a new HAProxy process on the same ports, so its counters start from zero."""
    backend.error_rate = 1.0
    load(5)
    assert backend_5xx(haproxy) == 5
    old_pid, old_url = haproxy.pid, haproxy.metrics_url

    haproxy.restart()

    assert haproxy.pid != old_pid
    assert haproxy.metrics_url == old_url
    assert backend_5xx(haproxy) == 0


def test_stop_refuses_connections(haproxy: HAProxyGateway, load: Load) -> None:
    """stop() takes the gateway down (its metrics URL refuses connections) until start()."""
    haproxy.stop()

    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=2.0, trust_env=False) as client:
        client.get(haproxy.metrics_url)
    assert load(3).errors == 3

    haproxy.start()
    assert backend_5xx(haproxy) == 0
    assert load(3).statuses == {200: 3}


def test_prometheus_scrapes_haproxy(
    backend: GatewayBackend, prometheus: PrometheusServer, load: Load
) -> None:
    """Prometheus, scraping every second, answers a PromQL sum over HAProxy's counters."""
    backend.error_rate = 0.5
    assert load(20).completed == 20

    total = prometheus.wait_for_value(
        'sum(haproxy_backend_http_responses_total{proxy="be_app"})',
        lambda value: value >= 20,
        timeout=20.0,
    )

    assert total == 20
    body = prometheus.query('haproxy_backend_http_responses_total{proxy="be_app",code="5xx"}')
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    [series] = body["data"]["result"]
    assert series["metric"]["job"] == "gateway"
    assert float(series["value"][1]) == 10
