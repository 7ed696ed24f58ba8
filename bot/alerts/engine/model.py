"""The neutral shapes metric sources produce and the rule engine consumes."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from enum import StrEnum

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, hashable


def labels_of(mapping: dict[str, str]) -> Labels:
    """Turn a label dict into the canonical sorted tuple, with interned strings.

    Interning matters at gateway scale: the same names and values ("code", "200", a service)
    repeat in every sample of every kept scrape (benchmarks/alerts.py measures it).
    """
    return tuple(sorted((sys.intern(k), sys.intern(v)) for k, v in mapping.items()))


@dataclass(frozen=True, slots=True)
class Sample:
    """One series' value in one scrape (sample names as the exposition wrote them)."""

    name: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Scrape:
    """A successful read of one source at one moment."""

    source_id: str
    at: dt.datetime
    samples: tuple[Sample, ...]


class FailureKind(StrEnum):
    """Why a source could not be read."""

    DOWN = "down"  # connection refused, DNS, TLS, HTTP 5xx
    TIMEOUT = "timeout"
    PARSE_ERROR = "parse_error"  # not an exposition / query answer we can trust
    TOO_LARGE = "too_large"
    REFUSED = "refused"  # HTTP 4xx (auth, path) or a URL the SSRF rules forbid


@dataclass(frozen=True)
class ScrapeFailure:
    """A failed read of one source at one moment; `detail` is for operators, never Slack."""

    source_id: str
    at: dt.datetime
    kind: FailureKind
    detail: str
