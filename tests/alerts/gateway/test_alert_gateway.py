"""End to end against a real HAProxy (and a real Prometheus): the bot alerts on what they report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.ports import utc_now
from sandbox.gateway.backend import GatewayBackend
from sandbox.gateway.stack import HAProxyGateway, PrometheusServer
from sandbox.slack import SlackEmulator
from tests.conftest import bot_settings
from tests.e2e.test_alert_flow import Clock, alerts_posted, thread_notes, with_metrics
from tests.support import wait_until

pytestmark = pytest.mark.gateway


def alerting(
    program: Program, sources: list[dict[str, Any]], rules: list[dict[str, Any]]
) -> Program:
    """The example program with a metrics section on 127.0.0.1 and an alerts channel."""
    return with_metrics(
        program, {"allowed_hosts": ["127.0.0.1"], "sources": sources, "rules": rules}
    )


@pytest.fixture
def bot_on_haproxy(
    slack: SlackEmulator, haproxy: HAProxyGateway, database_url: str, program: Program
) -> Iterator[tuple[Runtime, Clock]]:
    """The bot reading HAProxy's exporter with a 5xx rule per backend, on a moved clock."""
    source = {
        "id": "haproxy",
        "url": haproxy.metrics_url,
        "preset": "haproxy",
        "interval": 3600,
        "timeout": 2,
    }
    rule = {
        "id": "backend-5xx",
        "source": "haproxy",
        "kind": "error_rate",
        "threshold": 0.2,
        "resolve_threshold": 0.05,
        "window": 60,
        "severity": "sev1",
    }
    clock = Clock()
    runtime = build_runtime(
        bot_settings(slack, database_url), alerting(program, [source], [rule]), clock=clock
    ).start()
    yield runtime, clock
    runtime.stop()


def traffic(
    runtime: Runtime,
    clock: Clock,
    load: Callable[..., Any],
    backend: GatewayBackend,
    *,
    error_rate: float,
    requests: int = 20,
) -> None:
    """Send real requests through HAProxy, then let 15 s pass and poll its exporter."""
    backend.error_rate = error_rate
    load(requests)
    clock.tick()
    assert runtime.services.alerts is not None
    runtime.services.alerts.poll("haproxy")


def test_haproxy_5xx_burst_fires_restart_is_quiet_down_is_noticed_and_it_resolves(
    bot_on_haproxy: tuple[Runtime, Clock],
    haproxy: HAProxyGateway,
    backend: GatewayBackend,
    load: Callable[..., Any],
    slack: SlackEmulator,
) -> None:
    """Through a real HAProxy: a burst fires once, a restart is no spike, a stop is one notice."""
    runtime, clock = bot_on_haproxy
    for _ in range(3):
        traffic(runtime, clock, load, backend, error_rate=0.0)
    assert alerts_posted(slack) == []
    for _ in range(2):
        traffic(runtime, clock, load, backend, error_rate=0.5)
    [fired] = wait_until(lambda: alerts_posted(slack))
    assert "backend-5xx firing" in str(fired.args["blocks"]) and "be_app" in str(
        fired.args["blocks"]
    )
    haproxy.restart()  # counters drop to zero: a reset, not a change in error rate
    traffic(runtime, clock, load, backend, error_rate=0.5)
    assert len(alerts_posted(slack)) == 1
    haproxy.stop()
    for _ in range(4):
        clock.tick()
        assert runtime.services.alerts is not None
        runtime.services.alerts.poll("haproxy")
    down = wait_until(lambda: [c for c in alerts_posted(slack) if "unreachable" in c.args["text"]])
    assert len(down) == 1
    assert slack.calls_to("chat.update") == []  # no resolution guessed while blind
    haproxy.start()
    for _ in range(6):
        traffic(runtime, clock, load, backend, error_rate=0.0)
    wait_until(lambda: [c for c in alerts_posted(slack) if "is back" in c.args["text"]])
    wait_until(lambda: any("Resolved after" in n for n in thread_notes(slack)))
    assert "resolved" in str(slack.calls_to("chat.update")[-1].args["blocks"])


def test_promql_source_alerts_from_a_real_prometheus(
    slack: SlackEmulator,
    haproxy: HAProxyGateway,
    prometheus: PrometheusServer,
    backend: GatewayBackend,
    load: Callable[..., Any],
    database_url: str,
    program: Program,
) -> None:
    """A PromQL rule read from a real Prometheus scraping HAProxy fires on the error share."""
    promql = (
        'sum(rate(haproxy_backend_http_responses_total{proxy="be_app",code="5xx"}[10s]))'
        ' / sum(rate(haproxy_backend_http_responses_total{proxy="be_app"}[10s]))'
    )
    source = {
        "id": "prom",
        "type": "prometheus_query",
        "url": prometheus.url,
        "queries": {"be-app-5xx": promql},
        "interval": 3600,
        "timeout": 2,
    }
    rule = {
        "id": "be-app-5xx",
        "source": "prom",
        "kind": "query",
        "threshold": 0.3,
        "severity": "sev2",
    }
    runtime = build_runtime(
        bot_settings(slack, database_url), alerting(program, [source], [rule]), clock=utc_now
    ).start()
    try:
        backend.error_rate = 1.0

        def failing_share() -> bool:
            load(10)  # keep traffic flowing: Prometheus only sees increases between its scrapes
            values = prometheus.values(promql)
            return bool(values) and values[0] > 0.5

        wait_until(failing_share, timeout=40)
        assert runtime.services.alerts is not None
        runtime.services.alerts.poll("prom")
        [fired] = wait_until(lambda: alerts_posted(slack))
        assert "be-app-5xx firing" in str(fired.args["blocks"])
    finally:
        runtime.stop()
