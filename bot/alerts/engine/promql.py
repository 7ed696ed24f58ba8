"""Prometheus HTTP API answers (`/api/v1/query`) read into samples: pure parsing, no HTTP.

The HTTP reader (`bot.integrations.prometheus`) fetches; this turns what came back into samples
named after the query, or a `ReadError` with a short reason for operators (never the body).
"""

from __future__ import annotations

import json
from typing import Any

from bot.alerts.engine.model import FailureKind, Labels, Sample, labels_of


class ReadError(Exception):
    """One read failed; carries the failure kind and a short detail."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def http_failure(status: int) -> ReadError | None:
    """The failure an HTTP status means: 5xx is down, 4xx a refusal; None below 400."""
    if status >= 500:
        return ReadError(FailureKind.DOWN, f"HTTP {status}")
    if status >= 400:
        return ReadError(FailureKind.REFUSED, f"HTTP {status}")
    return None


def query_samples(name: str, status: int, body: bytes) -> list[Sample]:
    """Turn one `/api/v1/query` answer into samples named after the query (or raise ReadError)."""
    try:
        envelope: Any = json.loads(body)
    except (ValueError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("status") not in ("success", "error"):
        # Not Prometheus talking: a proxy's HTML page, a login redirect target, a load balancer.
        raise http_failure(status) or ReadError(
            FailureKind.PARSE_ERROR, f"query {name}: answer is not a Prometheus API envelope"
        )
    if envelope["status"] == "error" or status >= 300:
        error_type = str(envelope.get("errorType") or "unknown")[:40]
        kind = FailureKind.DOWN if status >= 500 else FailureKind.PARSE_ERROR
        raise ReadError(kind, f"query {name}: HTTP {status}, errorType {error_type}")
    try:
        return _result_samples(name, envelope["data"])
    except (KeyError, TypeError, ValueError, IndexError):
        raise ReadError(FailureKind.PARSE_ERROR, f"query {name}: malformed result") from None


def _result_samples(name: str, data: dict[str, Any]) -> list[Sample]:
    result_type, result = data["resultType"], data["result"]
    if result_type == "scalar":
        return [Sample(name, (), _value(result))]
    if result_type != "vector":
        raise ValueError(f"unsupported resultType {result_type}")
    samples: list[Sample] = []
    seen: set[Labels] = set()
    for series in result:
        # The query name replaces the metric name; a series that only differed by it is ambiguous.
        metric = {str(k): str(v) for k, v in series["metric"].items() if k != "__name__"}
        labels = labels_of(metric)
        if labels in seen:
            raise ValueError("duplicate series")
        seen.add(labels)
        samples.append(Sample(name, labels, _value(series["value"])))
    return samples


def _value(pair: list[Any]) -> float:
    """`[<unix time>, "<value>"]`: values are strings so they can carry NaN and ±Inf."""
    _, text = pair
    if not isinstance(text, str):
        raise TypeError("value is not a string")
    return float(text)
