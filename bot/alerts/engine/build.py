"""Turn the program's `metrics:` section into rules the engine understands.

The readers of its sources are built by `bot.integrations.prometheus.build_source`.
"""

from __future__ import annotations

import datetime as dt

from bot.alerts.engine.presets import GatewayPreset, LatencySpec, get_preset
from bot.alerts.engine.program import MetricsProgram, RuleConfig, SourceConfig
from bot.alerts.engine.rules import (
    ONE_DAY,
    ONE_WEEK,
    Comparison,
    CustomQuery,
    ErrorRateQuery,
    GaugeLatencyQuery,
    HistogramLatencyQuery,
    Query,
    Rule,
    TrafficQuery,
)


def _query(rule: RuleConfig, preset: GatewayPreset | None) -> Query:
    window = dt.timedelta(seconds=rule.window)
    if rule.kind == "query" or preset is None:
        return CustomQuery(promql=rule.id, lookback=max(window, dt.timedelta(minutes=5)))
    scope = tuple(rule.scope_by) if rule.scope_by is not None else preset.scope_labels
    if rule.kind == "error_rate":
        return ErrorRateQuery(
            metric=preset.requests,
            status_label=preset.status_label,
            window=window,
            include_4xx=rule.include_4xx,
            scope_labels=scope,
        )
    if rule.kind == "traffic_drop":
        compare = {"day": ONE_DAY, "week": ONE_WEEK, None: None}[rule.compare_with]
        return TrafficQuery(
            metric=preset.requests, window=window, compare_with=compare, scope_labels=scope
        )
    latency = preset.latency
    if latency is None:
        raise ValueError(f"rules.{rule.id}: the {preset.name} preset reports no latency")
    if latency.kind == "histogram":
        return HistogramLatencyQuery(
            histogram=latency.metric,
            unit_seconds=latency.unit_seconds,
            quantile=rule.quantile,
            window=window,
            scope_labels=scope,
            match=latency.match,
        )
    return GaugeLatencyQuery(
        metric=latency.metric,
        unit_seconds=latency.unit_seconds,
        scope_labels=scope,
        match=latency.match,
    )


def gateway_of(source: SourceConfig) -> GatewayPreset | None:
    """The source's gateway description: its preset, or the shape it spells out."""
    if source.preset:
        return get_preset(source.preset)
    shape = source.shape
    if shape is None:
        return None
    latency = None
    if shape.latency_histogram or shape.latency_gauge:
        latency = LatencySpec(
            kind="histogram" if shape.latency_histogram else "gauge_seconds",
            metric=shape.latency_histogram or shape.latency_gauge or "",
            unit_seconds=shape.latency_unit_seconds,
        )
    return GatewayPreset(
        name=f"{source.id} (explicit)",
        requests=shape.requests,
        status_label=shape.status_label,
        status_kind=shape.status_kind,
        latency=latency,
        scope_labels=tuple(shape.scope_labels),
    )


def build_rule(rule: RuleConfig, source: SourceConfig, default_channel: str | None) -> Rule:
    """Build one engine rule from its configuration and its source's gateway description."""
    preset = gateway_of(source)
    comparison = rule.comparison or ("below" if rule.kind == "traffic_drop" else "above")
    return Rule(
        id=rule.id,
        query=_query(rule, preset),
        threshold=rule.threshold,
        comparison=Comparison(comparison),
        for_=dt.timedelta(seconds=rule.for_),
        resolve_threshold=rule.resolve_threshold,
        severity=rule.severity,
        channel=rule.channel or default_channel,
        repeat_interval=dt.timedelta(seconds=rule.repeat_interval)
        if rule.repeat_interval
        else None,
    )


def build_rules(metrics: MetricsProgram, default_channel: str | None) -> dict[str, list[Rule]]:
    """Build every rule, grouped by the source it reads."""
    sources = {s.id: s for s in metrics.sources}
    grouped: dict[str, list[Rule]] = {s.id: [] for s in metrics.sources}
    for rule in metrics.rules:
        grouped[rule.source].append(build_rule(rule, sources[rule.source], default_channel))
    return grouped
