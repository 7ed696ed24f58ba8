"""Fixtures for end-to-end tests against a real HAProxy and a real Prometheus on 127.0.0.1.

    backend     a GatewayBackend whose error_rate / latency / status the test sets
    haproxy     HAProxy in front of it: traffic_url, metrics_url, restart(), stop(), start()
    load        load(n, ...) sends n bounded requests through HAProxy and returns a LoadResult
    prometheus  Prometheus scraping HAProxy's exporter every second: url, query(promql)

Everything is function-scoped: each test gets fresh processes, so counters start at zero, and
teardown stops every process and deletes its temporary directory. Without the binaries (see
HYPERCARE_HAPROXY_BIN / HYPERCARE_PROMETHEUS_BIN; tests/run.sh installs Debian's packages when it
runs as root) the tests skip, or fail when HYPERCARE_REQUIRE_GATEWAY=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import pytest

from sandbox.gateway.backend import GatewayBackend
from sandbox.gateway.stack import (
    HAPROXY_ENV,
    PROMETHEUS_ENV,
    HAProxyGateway,
    LoadResult,
    PrometheusServer,
    find_haproxy,
    find_prometheus,
    send_load,
)

REQUIRE_GATEWAY = os.environ.get("HYPERCARE_REQUIRE_GATEWAY") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """Register the `gateway` marker (the run may use --strict-markers)."""
    config.addinivalue_line("markers", "gateway: needs real HAProxy and Prometheus binaries")


def _binary(name: str, found: str | None, env_var: str) -> str:
    """The binary's path, or skip (fail when HYPERCARE_REQUIRE_GATEWAY=1) without it."""
    if found is not None:
        return found
    reason = f"{name} not found (install Debian's `{name}` package or set {env_var})"
    if REQUIRE_GATEWAY:
        pytest.fail(f"HYPERCARE_REQUIRE_GATEWAY=1 but {reason}")
    pytest.skip(reason)


class Load(Protocol):
    """Send `requests` GETs through HAProxy (bounded in count and time), count the answers."""

    def __call__(
        self,
        requests: int,
        *,
        path: str = "/",
        concurrency: int = 4,
        time_limit: float = 20.0,
    ) -> LoadResult: ...


@pytest.fixture
def backend() -> Iterator[GatewayBackend]:
    """A backend answering 200 at once, until the test turns its knobs."""
    with GatewayBackend() as server:
        yield server


@pytest.fixture
def haproxy(backend: GatewayBackend) -> Iterator[HAProxyGateway]:
    """A running HAProxy: frontend → backend `be_app` (server `app1`), exporter at /metrics."""
    binary = _binary("haproxy", find_haproxy(), HAPROXY_ENV)
    gateway = HAProxyGateway(backend.url, binary=binary)
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.close()


@pytest.fixture
def load(haproxy: HAProxyGateway) -> Load:
    """`load(n)`: n GETs through HAProxy's traffic frontend; at most 10 000 and 20 s by default."""

    def send(
        requests: int,
        *,
        path: str = "/",
        concurrency: int = 4,
        time_limit: float = 20.0,
    ) -> LoadResult:
        return send_load(
            haproxy.traffic_url + path,
            requests,
            concurrency=concurrency,
            time_limit=time_limit,
        )

    return send


@pytest.fixture
def prometheus(haproxy: HAProxyGateway) -> Iterator[PrometheusServer]:
    """A running Prometheus scraping the HAProxy exporter every second (job `gateway`)."""
    binary = _binary("prometheus", find_prometheus(), PROMETHEUS_ENV)
    server = PrometheusServer([f"127.0.0.1:{haproxy.metrics_port}"], binary=binary)
    try:
        server.start()
        yield server
    finally:
        server.close()
