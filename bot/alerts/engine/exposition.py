"""Parse a Prometheus text 0.0.4 or OpenMetrics 1.0 exposition into neutral samples.

Parsing is the library's (`prometheus_client.parser` and `prometheus_client.openmetrics.parser`);
this module adds what an alerting bot needs on top: refuse anything that is not clearly a whole,
well-formed exposition (F10), and give sample names back exactly as the gateway wrote them.

Choices a reader of the rule engine should know:

* Sample names are the exposed ones. The text parser "munges counters into OpenMetrics
  representation": for `# TYPE foo counter` it renames every `foo` sample to `foo_total` (Envoy's
  `envoy_cluster_upstream_rq_xx`, APISIX's `apisix_http_status`). We read the `# TYPE` lines
  ourselves and strip that appended `_total` again, so a preset names metrics as the gateway's
  docs do. OpenMetrics requires counter samples to end in `_total`, so there the exposed name
  already has it, and `_created` samples are kept as exposed too.
* Counters, histogram buckets and `_count` samples must be finite and non-negative, or the whole
  exposition is refused. One exception, forced by a real HAProxy 2.6 capture: HAProxy writes `NaN`
  for text-format counters that do not apply (e.g. `haproxy_server_check_failures_total` on a
  server without health checks); such NaN counter samples are dropped, so the series is absent
  (no data) rather than zero, and the rest of the scrape stays usable.
* Gauges, untyped samples, histogram `_sum` and summary quantiles may be NaN or ±Inf (an idle
  summary reports NaN quantiles); they are kept, and the rule engine ignores non-finite values.
* Timestamps and exemplars are dropped: a scrape is one moment, taken by the caller's clock.
* A text histogram must have an `le="+Inf"` bucket per series (the text parser does not check;
  a missing one is the usual sign of a body cut at a line boundary). Buckets out of order or a
  `_count` differing from `+Inf` are not refused: exporters update them without a lock, and
  `histogram_quantile` copes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_fd_to_metric_families

from bot.alerts.engine.model import Labels, Sample, labels_of

OPENMETRICS_TYPE = "application/openmetrics-text"
TEXT_TYPE = "text/plain"

# `# TYPE <name> counter` as the text parser reads it (whitespace-separated, after `#`).
_COUNTER_TYPE_LINE = re.compile(r"^[ \t]*#[ \t]+TYPE[ \t]+(\S+)[ \t]+counter[ \t]*$", re.MULTILINE)
_TOTAL = "_total"
# Sample suffixes whose values are counts: they must be finite and never negative.
_COUNT_SUFFIXES = {
    "counter": ("_total", ""),
    "histogram": ("_bucket", "_count"),
    "gaugehistogram": ("_bucket", "_gcount"),
    "summary": ("_count",),
}


class ExpositionError(ValueError):
    """The body is not a whole, trustworthy metrics exposition; the message never quotes it."""


def parse_exposition(body: bytes, content_type: str | None) -> tuple[Sample, ...]:
    """Parse one scrape body into samples, refusing anything partial or ambiguous."""
    openmetrics = _is_openmetrics(content_type, body)
    text = _decode(body)
    try:
        samples = list(_openmetrics_samples(text) if openmetrics else _text_samples(text))
    except ExpositionError:
        raise
    except Exception as error:  # the parsers raise bare ValueError, IndexError, TypeError...
        raise ExpositionError(_parser_reason(openmetrics, error)) from None
    _refuse_duplicates(samples)
    return tuple(samples)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_openmetrics(content_type: str | None, body: bytes) -> bool:
    """Pick the parser from the content type, sniffing only when there is none."""
    head = body[:64].lstrip().lower()
    if head.startswith(b"<"):  # <!DOCTYPE html>, <html>, <?xml ...>
        raise ExpositionError("body is HTML/XML, not a metrics exposition")
    if head.startswith((b"{", b"[")):
        raise ExpositionError("body is JSON, not a metrics exposition")
    if not content_type or not content_type.strip():
        # No header (some hand-rolled exporters): OpenMetrics always ends in `# EOF`.
        return body.rstrip().endswith(b"# EOF")
    media = _media_type(content_type)
    if media == OPENMETRICS_TYPE:
        return True
    if media == TEXT_TYPE:
        return False
    raise ExpositionError(f"unexpected content type {media[:60]!r}")


def _decode(body: bytes) -> str:
    if not body.strip():
        # Every gateway exposes at least its own process metrics: empty means the body was lost.
        raise ExpositionError("empty body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExpositionError(f"body is not UTF-8 (byte offset {error.start})") from None


def _parser_reason(openmetrics: bool, error: Exception) -> str:
    """The parser's complaint without the offending line (which is body content)."""
    fmt = "OpenMetrics" if openmetrics else "Prometheus text"
    reason = str(error).split(":", 1)[0].strip()[:80] or type(error).__name__
    return f"malformed {fmt} exposition: {reason}"


def _openmetrics_samples(text: str) -> Iterator[Sample]:
    # The OpenMetrics parser is strict on its own: `# EOF`, +Inf buckets, NaN counters, ordering.
    families: Iterable[Metric] = openmetrics_parser.text_fd_to_metric_families(  # type: ignore[no-untyped-call]
        io.StringIO(text)
    )
    for family in families:
        yield from _family_samples(family, rename={})


def _text_samples(text: str) -> Iterator[Sample]:
    if not text.endswith("\n"):
        # The format requires a final newline; without it the last line may be cut mid-value.
        raise ExpositionError("body does not end with a newline (truncated?)")
    # Counter families as declared, in body order. The parser names both `# TYPE foo counter`
    # and `# TYPE foo_total counter` family `foo` with `foo_total` samples, and Envoy exposes
    # both (`envoy_cluster_upstream_rq{envoy_response_code}` next to `..._rq_total`), so a name
    # map cannot tell them apart: match each parsed counter family to its own TYPE line instead.
    declared = [m.group(1) for m in _COUNTER_TYPE_LINE.finditer(text)]
    position = 0
    for family in text_fd_to_metric_families(io.StringIO(text)):
        rename: dict[str, str] = {}
        if family.type == "counter":
            for index in range(position, len(declared)):
                if declared[index].removesuffix(_TOTAL) == family.name:
                    position = index + 1
                    if not declared[index].endswith(_TOTAL):  # the parser appended `_total`
                        rename = {family.name + _TOTAL: family.name}
                    break
        if family.type in ("histogram", "gaugehistogram"):
            _require_inf_buckets(family)
        yield from _family_samples(family, rename=rename)


def _family_samples(family: Metric, *, rename: dict[str, str]) -> Iterator[Sample]:
    count_names = {family.name + s for s in _COUNT_SUFFIXES.get(family.type, ())}
    for raw in family.samples:
        if raw.native_histogram is not None:
            continue  # not part of OpenMetrics 1.0 or text 0.0.4; nothing here reads them
        value = float(raw.value)
        if raw.name in count_names and not (math.isfinite(value) and value >= 0):
            if family.type == "counter" and math.isnan(value):
                continue  # "not applicable" (HAProxy): absent, never zero; see module docstring
            raise ExpositionError(f"{family.type} sample {raw.name} is {value!r}")
        if family.type in ("histogram", "gaugehistogram") and raw.name.endswith("_bucket"):
            _bucket_bound(raw.labels, raw.name)
        yield Sample(name=rename.get(raw.name, raw.name), labels=labels_of(raw.labels), value=value)


def _bucket_bound(labels: dict[str, str], name: str) -> float:
    try:
        bound = float(labels["le"])
    except (KeyError, ValueError):
        raise ExpositionError(f"bucket of {name} has no numeric le label") from None
    if math.isnan(bound):
        raise ExpositionError(f"bucket of {name} has le=NaN")
    return bound


def _require_inf_buckets(family: Metric) -> None:
    """Every text histogram series needs its `+Inf` bucket, or the body was cut short."""
    series: dict[Labels, bool] = {}
    for raw in family.samples:
        if not raw.name.endswith("_bucket"):
            continue
        key = labels_of({k: v for k, v in raw.labels.items() if k != "le"})
        is_inf = _bucket_bound(raw.labels, raw.name) == math.inf
        series[key] = series.get(key, False) or is_inf
    if not all(series.values()):
        raise ExpositionError(f'histogram {family.name} has a series without le="+Inf" bucket')


def _refuse_duplicates(samples: list[Sample]) -> None:
    seen: set[tuple[str, Labels]] = set()
    for sample in samples:
        key = (sample.name, sample.labels)
        if key in seen:
            raise ExpositionError(f"duplicate series {sample.name}")
        seen.add(key)
