"""Fixtures for end-to-end tests against a real HAProxy and a real Prometheus on 127.0.0.1.

    backend     a GatewayBackend whose error_rate / latency / status the test sets
    haproxy     HAProxy in front of it: traffic_url, metrics_url, restart(), stop(), start()
    load        load(n, ...) sends n bounded requests through HAProxy and returns a LoadResult
    prometheus  Prometheus scraping HAProxy's exporter every second: url, query(promql)

Each test gets fresh processes, so counters start at zero, and teardown stops every process and
deletes its temporary directory; only finding the binaries is done once a session (see
HYPERCARE_HAPROXY_BIN / HYPERCARE_PROMETHEUS_BIN). Without them the tests skip, naming the Debian
packages to install, or fail in CI (CI=true) and when HYPERCARE_REQUIRE_GATEWAY=1; `.ci/run`
installs the packages.
"""

from __future__ import annotations

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
from tests.provision import GATEWAY_PACKAGES, unavailable


def pytest_configure(config: pytest.Config) -> None:
    """Register the `gateway` marker (the run may use --strict-markers)."""
    config.addinivalue_line("markers", "gateway: needs real HAProxy and Prometheus binaries")


def _binary(name: str, found: str | None, env_var: str) -> str:
    """The binary's path; without it, skip (fail when required, see tests/provision.py)."""
    if found is not None:
        return found
    unavailable(
        f"{name} not found: apt-get install {GATEWAY_PACKAGES}, or set {env_var}",
        "HYPERCARE_REQUIRE_GATEWAY",
    )


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    """The haproxy executable the tests run."""
    return _binary("haproxy", find_haproxy(), HAPROXY_ENV)


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The prometheus executable the tests run."""
    return _binary("prometheus", find_prometheus(), PROMETHEUS_ENV)


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
def haproxy(backend: GatewayBackend, haproxy_binary: str) -> Iterator[HAProxyGateway]:
    """A running HAProxy: frontend → backend `be_app` (server `app1`), exporter at /metrics."""
    gateway = HAProxyGateway(backend.url, binary=haproxy_binary)
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
def prometheus(haproxy: HAProxyGateway, prometheus_binary: str) -> Iterator[PrometheusServer]:
    """A running Prometheus scraping the HAProxy exporter every second (job `gateway`)."""
    server = PrometheusServer([f"127.0.0.1:{haproxy.metrics_port}"], binary=prometheus_binary)
    try:
        server.start()
        yield server
    finally:
        server.close()
