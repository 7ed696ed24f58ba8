"""The program file's `metrics:` section: where to read gateway metrics and when to alert.

Sources are admin configuration only (they make the bot fetch URLs): `allowed_hosts` is the
SSRF allow-list every source URL must match, and header values are named environment variables,
never literal secrets.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.alerts.engine.presets import PRESETS

SLACK_CHANNEL = r"^[A-Z][A-Z0-9]{2,20}$"
_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewayShape(_Strict):
    """A gateway without a preset, described explicitly: which metrics mean what."""

    requests: str = Field(min_length=1)  # counter of requests, one series per status
    status_label: str = Field(default="code", min_length=1)
    status_kind: Literal["code", "class", "class_xx"] = "code"  # "503", "5" or "5xx"
    latency_histogram: str | None = None  # family name, without `_bucket`
    latency_gauge: str | None = None  # a gauge of latency, when there is no histogram
    latency_unit_seconds: float = Field(default=1.0, gt=0)  # 0.001 when it counts milliseconds
    scope_labels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_latency(self) -> Self:
        if self.latency_histogram and self.latency_gauge:
            raise ValueError("give latency_histogram or latency_gauge, not both")
        return self


class SourceConfig(_Strict):
    """A metrics source: an exposition endpoint (with a gateway preset) or a PromQL server."""

    id: str = Field(pattern=_ID)
    type: Literal["prometheus_text", "prometheus_query"] = "prometheus_text"
    url: str = Field(pattern=r"^https?://")
    preset: str | None = None  # haproxy, kong, apisix, envoy, traefik (prometheus_text)
    shape: GatewayShape | None = None  # instead of a preset: the metrics named explicitly
    queries: dict[str, str] = Field(default_factory=dict)  # name → PromQL (prometheus_query)
    interval: int = Field(default=30, ge=1, le=3600)  # seconds between reads
    timeout: float = Field(default=5.0, gt=0, le=60)
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)  # body cap
    headers_env: dict[str, str] = Field(default_factory=dict)  # header → environment variable

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be shorter than interval (reads must never overlap)")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if self.preset is not None and self.shape is not None:
            raise ValueError("give a preset or a shape, not both")
        if self.type == "prometheus_query" and not self.queries:
            raise ValueError("a prometheus_query source needs queries")
        return self


class RuleConfig(_Strict):
    """A threshold rule on one source."""

    id: str = Field(pattern=_ID)
    source: str
    kind: Literal["error_rate", "latency", "traffic_drop", "query"]
    threshold: float
    resolve_threshold: float | None = None  # hysteresis: must come back past this to resolve
    comparison: Literal["above", "below"] | None = None  # default: below for traffic, else above
    window: int = Field(default=300, ge=10, le=86400)  # seconds
    for_: int = Field(default=0, ge=0, le=86400, alias="for")  # seconds it must hold to fire
    repeat_interval: int | None = Field(default=3600, ge=60)  # seconds between thread reminders
    severity: str
    channel: str | None = Field(default=None, pattern=SLACK_CHANNEL)  # default: alerts channel
    scope_by: list[str] | None = None  # labels to alert per (default: the preset's scope)
    include_4xx: bool = False  # error_rate
    quantile: float = Field(default=0.95, gt=0, lt=1)  # latency from a histogram
    compare_with: Literal["day", "week"] | None = "day"  # traffic_drop; None → absolute floor
    auto_ticket: bool = False  # open a Jira ticket when it fires

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MetricsProgram(_Strict):
    """Gateway alerting: sources, rules, and the SSRF allow-list."""

    allowed_hosts: list[str] = Field(min_length=1)
    failures_before_down: int = Field(default=3, ge=1, le=100)
    sources: list[SourceConfig] = Field(min_length=1)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        sources = {s.id: s for s in self.sources}
        if len(sources) != len(self.sources):
            raise ValueError("sources: two sources share an id")
        if len({r.id for r in self.rules}) != len(self.rules):
            raise ValueError("rules: two rules share an id")
        for rule in self.rules:
            source = sources.get(rule.source)
            if source is None:
                raise ValueError(f"rules.{rule.id}: unknown source {rule.source!r}")
            if rule.kind == "query":
                if source.type != "prometheus_query" or rule.id not in source.queries:
                    raise ValueError(
                        f"rules.{rule.id}: a query rule needs a prometheus_query source with a "
                        f"query named {rule.id!r}"
                    )
            elif source.preset is None and source.shape is None:
                raise ValueError(f"rules.{rule.id}: source {source.id!r} needs a preset or a shape")
        return self
