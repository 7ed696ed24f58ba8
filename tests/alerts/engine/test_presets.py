"""Gateway presets name what each gateway really exposes, as parse_exposition returns it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.alerts.engine.exposition import parse_exposition
from bot.alerts.engine.model import Sample
from bot.alerts.engine.presets import (
    PRESETS,
    GatewayPreset,
    get_preset,
    status_class,
    status_matches,
)

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = "text/plain; version=0.0.4"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Which fixture pins which preset; Traefik is pinned in both formats.
PINNED = [
    ("haproxy", "haproxy_2.6.12.prom"),
    ("kong", "kong_3.prom"),
    ("apisix", "apisix_3.prom"),
    ("envoy", "envoy.prom"),
    ("traefik", "traefik_3.prom"),
    ("traefik", "traefik_3.om"),
]


def _samples(fixture: str) -> tuple[Sample, ...]:
    content_type = OPENMETRICS if fixture.endswith(".om") else TEXT
    return parse_exposition((FIXTURES / fixture).read_bytes(), content_type)


def _matching(
    samples: tuple[Sample, ...], name: str, match: tuple[tuple[str, str], ...]
) -> list[Sample]:
    return [s for s in samples if s.name == name and set(match) <= set(s.labels)]


def test_every_preset_is_pinned_by_a_fixture() -> None:
    """No preset ships without a fixture exposition proving its names."""
    assert {preset for preset, _ in PINNED} == set(PRESETS)


@pytest.mark.parametrize(("preset_name", "fixture"), PINNED)
def test_requests_counter_and_status_label_are_exposed(preset_name: str, fixture: str) -> None:
    """The requests counter exists with status and scope labels on every series, 5xx included."""
    preset = get_preset(preset_name)
    series = _matching(_samples(fixture), preset.requests, ())
    assert series, f"{preset.requests} not in {fixture}"
    for sample in series:
        labels = dict(sample.labels)
        assert preset.status_label in labels
        assert set(preset.scope_labels) <= set(labels)
        assert math.isfinite(sample.value)
    server_errors = [
        s for s in series if status_matches(preset, dict(s.labels)[preset.status_label], {5})
    ]
    assert server_errors and sum(s.value for s in server_errors) > 0


@pytest.mark.parametrize(("preset_name", "fixture"), PINNED)
def test_latency_metric_is_exposed_in_the_declared_shape(preset_name: str, fixture: str) -> None:
    """The latency metric exists as a histogram with +Inf buckets, or as a finite gauge."""
    preset = get_preset(preset_name)
    latency = preset.latency
    assert latency is not None
    samples = _samples(fixture)
    if latency.kind == "histogram":
        buckets = _matching(samples, latency.metric + "_bucket", latency.match)
        assert buckets, f"{latency.metric}_bucket not in {fixture}"
        assert any(dict(b.labels)["le"] == "+Inf" for b in buckets)
        assert _matching(samples, latency.metric + "_count", latency.match)
        for bucket in buckets:
            assert set(preset.scope_labels) <= {k for k, _ in bucket.labels}
    else:
        gauges = _matching(samples, latency.metric, latency.match)
        assert gauges and all(math.isfinite(g.value) for g in gauges)
        for gauge in gauges:
            assert set(preset.scope_labels) <= {k for k, _ in gauge.labels}


def test_latency_units_are_seconds_or_milliseconds() -> None:
    """Kong, APISIX and Envoy report milliseconds; Traefik and HAProxy seconds."""
    units = {name: p.latency.unit_seconds for name, p in PRESETS.items() if p.latency}
    assert units == {"kong": 0.001, "apisix": 0.001, "envoy": 0.001, "traefik": 1.0, "haproxy": 1.0}


def test_apisix_latency_is_pinned_to_total_request_time() -> None:
    """APISIX's latency histogram mixes request/upstream/apisix types; the preset picks request."""
    latency = get_preset("apisix").latency
    assert latency is not None and latency.match == (("type", "request"),)


def test_get_preset_is_case_insensitive() -> None:
    """Preset names from configuration are matched without regard to case or spaces."""
    assert get_preset(" Kong ") is PRESETS["kong"]


def test_unknown_preset_error_lists_known_presets() -> None:
    """An unknown preset name fails with every known name in the message."""
    with pytest.raises(ValueError, match="unknown gateway preset 'nginx'") as info:
        get_preset("nginx")
    for name in PRESETS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("preset_name", "value", "expected"),
    [
        ("kong", "503", 5),
        ("kong", "200", 2),
        ("kong", "", None),
        ("kong", "5xx", None),
        ("traefik", "499", 4),
        ("envoy", "5", 5),
        ("envoy", "503", None),
        ("haproxy", "5xx", 5),
        ("haproxy", "other", None),
        ("haproxy", "5", None),
        ("apisix", "600", None),
        ("apisix", "٥٠٣", None),
    ],
)
def test_status_class(preset_name: str, value: str, expected: int | None) -> None:
    """Status values map to a class per the preset's status kind; anything else maps to none."""
    assert status_class(get_preset(preset_name), value) == expected


def test_status_matches_a_set_of_classes() -> None:
    """`status_matches` answers "is this series in one of these classes?"."""
    haproxy: GatewayPreset = get_preset("haproxy")
    assert status_matches(haproxy, "5xx", {5})
    assert status_matches(haproxy, "4xx", {4, 5})
    assert not status_matches(haproxy, "2xx", {4, 5})
    assert not status_matches(haproxy, "other", {1, 2, 3, 4, 5})


def test_presets_are_frozen() -> None:
    """Presets are shared constants and cannot be changed at run time."""
    with pytest.raises(AttributeError):
        get_preset("kong").requests = "x"  # type: ignore[misc]
