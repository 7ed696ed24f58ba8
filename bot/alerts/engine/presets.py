"""Gateway presets: which samples carry request counts, status and latency for each gateway.

Names are the ones the gateway exposes in Prometheus text format, exactly as
`bot.alerts.engine.exposition.parse_exposition` returns them (it undoes the Python parser's
`_total` munging, so Envoy's and APISIX's counters keep their documented names). Each preset
is pinned against a fixture exposition in tests/alerts/engine: a real capture for HAProxy,
documented names for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from bot.alerts.engine.model import Labels

StatusKind = Literal["code", "class", "class_xx"]
LatencyKind = Literal["histogram", "gauge_seconds"]


@dataclass(frozen=True)
class LatencySpec:
    """Where a gateway reports request latency, and in what unit."""

    kind: LatencyKind  # histogram: `<metric>_bucket{le}` series; gauge_seconds: one value per scope
    metric: str  # histogram family name (without `_bucket`) or the gauge's sample name
    unit_seconds: float  # multiply values (histogram: `le` bounds) by this to get seconds
    match: Labels = ()  # label values a series must carry, e.g. APISIX type="request"


@dataclass(frozen=True)
class GatewayPreset:
    """What a threshold rule needs to know about one gateway's metrics."""

    name: str
    requests: str  # counter sample name, one series per status (code or class) and scope
    status_label: str
    status_kind: StatusKind  # "code": "503"; "class": "5" (Envoy); "class_xx": "5xx" (HAProxy)
    latency: LatencySpec | None
    scope_labels: tuple[str, ...]  # labels that name what is being served (service, route...)
    hint: str = ""  # what to switch on at the gateway when the requests counter is missing


HAPROXY = GatewayPreset(
    name="haproxy",
    requests="haproxy_backend_http_responses_total",
    status_label="code",
    status_kind="class_xx",
    latency=LatencySpec(
        kind="gauge_seconds",
        metric="haproxy_backend_response_time_average_seconds",
        unit_seconds=1.0,
    ),
    scope_labels=("proxy",),
    hint="add `http-request use-service prometheus-exporter` to a frontend (HAProxy >= 2.4)",
)
"""HAProxy 2.6 built-in exporter (USE_PROMEX): names and labels from a real 2.6.12 capture.

`code` is "1xx".."5xx" or "other". HAProxy has no latency histogram; the gauge is the average
response time over the backend's last 1024 requests, so it reacts to a slow backend but is not
a p95.
"""

KONG = GatewayPreset(
    name="kong",
    requests="kong_http_requests_total",
    status_label="code",
    status_kind="code",
    latency=LatencySpec(kind="histogram", metric="kong_request_latency_ms", unit_seconds=0.001),
    scope_labels=("service", "route", "workspace"),
    hint="enable status_code_metrics and latency_metrics on Kong's prometheus plugin (3.x)",
)
"""Kong 3.x `prometheus` plugin — Kong/kong:kong/plugins/prometheus/exporter.lua, schema.lua.

Since 3.0 status and latency metrics are off by default. `kong_request_latency_ms` is the total
time Kong took to serve the request (upstream plus Kong), in milliseconds. Kong 2.x used other
names (`kong_http_status`, `kong_latency`) and is not covered.
"""

APISIX = GatewayPreset(
    name="apisix",
    requests="apisix_http_status",
    status_label="code",
    status_kind="code",
    latency=LatencySpec(
        kind="histogram",
        metric="apisix_http_latency",
        unit_seconds=0.001,
        match=(("type", "request"),),
    ),
    scope_labels=("route", "service"),
    hint="enable the prometheus plugin (global rule) and scrape the export server, port 9091",
)
"""Apache APISIX `prometheus` plugin — apache/apisix:apisix/plugins/prometheus/exporter.lua.

`apisix_http_status` is a counter without `_total`; `apisix_http_requests_total` is a gauge of
all nginx requests, not per route. Latency `type` is request (total), upstream or apisix.
`route`/`service` are IDs unless `prefer_name` is set.
"""

ENVOY = GatewayPreset(
    name="envoy",
    requests="envoy_cluster_upstream_rq_xx",
    status_label="envoy_response_code_class",
    status_kind="class",
    latency=LatencySpec(
        kind="histogram", metric="envoy_cluster_upstream_rq_time", unit_seconds=0.001
    ),
    scope_labels=("envoy_cluster_name",),
    hint="scrape the admin listener's /stats/prometheus",
)
"""Envoy admin `/stats/prometheus` — envoyproxy/envoy:source/server/admin/prometheus_stats.cc.

Counters carry no `_total` suffix; `upstream_rq_<N>xx` becomes `envoy_cluster_upstream_rq_xx`
with `envoy_response_code_class="N"` (well_known_names.cc). `upstream_rq_time` is milliseconds.
"""

TRAEFIK = GatewayPreset(
    name="traefik",
    requests="traefik_service_requests_total",
    status_label="code",
    status_kind="code",
    latency=LatencySpec(
        kind="histogram", metric="traefik_service_request_duration_seconds", unit_seconds=1.0
    ),
    scope_labels=("service",),
    hint="enable metrics.prometheus with addServicesLabels (the default) in Traefik's config",
)
"""Traefik v3 — traefik/traefik:pkg/observability/metrics/prometheus.go.

`service` values carry the provider suffix (`whoami@docker`). Default buckets are 0.1, 0.3,
1.2 and 5 seconds, so a p95 from them is coarse.
"""

PRESETS: Mapping[str, GatewayPreset] = MappingProxyType(
    {p.name: p for p in (APISIX, ENVOY, HAPROXY, KONG, TRAEFIK)}
)


def get_preset(name: str) -> GatewayPreset:
    """Look a preset up by name, with an error listing the known ones."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown gateway preset {name!r}; known presets: {known}") from None


def status_class(preset: GatewayPreset, value: str) -> int | None:
    """The status class (1..5) a series' status label value stands for, if any."""
    if preset.status_kind == "code":
        digits = value if len(value) == 3 else ""
    elif preset.status_kind == "class":
        digits = value if len(value) == 1 else ""
    else:
        digits = value[0] if len(value) == 3 and value[1:].lower() == "xx" else ""
    if not digits.isdigit() or not digits.isascii():
        return None  # HAProxy's "other", Kong's empty code on a dropped connection
    klass = int(digits[0])
    return klass if 1 <= klass <= 5 else None


def status_matches(preset: GatewayPreset, value: str, classes: set[int]) -> bool:
    """Whether a status label value falls in one of `classes` (e.g. {5} for server errors)."""
    klass = status_class(preset, value)
    return klass is not None and klass in classes
