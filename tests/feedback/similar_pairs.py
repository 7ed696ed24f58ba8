"""Scoring labelled report pairs through the real lookup (the test and benchmarks/similar.py).

Every pair's first report (`a`) is stored as a feedback row of one database; then each pair's
second report (`b`) is looked up as a reporter would type it, and the pair counts as matched
when its own `a` is among the reports the lookup shows, at or above the threshold.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import SimilarCandidate, SimilarQuery
from bot.feedback.program import SimilarProgram
from bot.feedback.similarity import pool, score, similar_query
from storage.models import FeedbackRow
from storage.similar import find_similar

PAIRS = Path(__file__).resolve().parent.parent / "data" / "similar_pairs.jsonl"
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
SPLIT_SEED = 20261206  # the held-out half is fixed: the weights were tuned on the other half


@dataclass(frozen=True)
class Pair:
    """Two reports and whether they are the same problem."""

    id: str
    a: dict[str, Any]
    b: dict[str, Any]
    same: bool
    kind: str


@dataclass(frozen=True)
class Lookup:
    """What the database handed back for one pair's `b`: its candidates, and which is `a`."""

    pair: Pair
    query: SimilarQuery
    candidates: tuple[SimilarCandidate, ...]
    row_id: int  # the feedback id `a` was stored under


@dataclass(frozen=True)
class Counts:
    """Confusion counts of a set of pairs at one threshold."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Share of the matches shown that were the same problem (1 when none was shown)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of the same-problem pairs that were shown."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    """The labelled pairs of a JSON-lines file."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            pairs.append(Pair(str(raw["id"]), raw["a"], raw["b"], bool(raw["same"]), raw["kind"]))
    return pairs


def halves(pairs: Sequence[Pair], seed: int = SPLIT_SEED) -> tuple[list[Pair], list[Pair]]:
    """A fixed random split: (tuning half, held-out half)."""
    shuffled = list(pairs)
    random.Random(seed).shuffle(shuffled)
    middle = len(shuffled) // 2
    return shuffled[:middle], shuffled[middle:]


def _row(number: int, report: dict[str, Any]) -> dict[str, Any]:
    created = NOW - dt.timedelta(hours=number)
    return {
        "id": number,
        "submission_key": f"pair-{number}",
        "summary": report["summary"],
        "category": report.get("category") or "bug",
        "severity": report.get("severity") or "sev3",
        "component": report.get("component") or "",
        "environment": "production",
        "trying": "",
        "expected": "",
        "actual": report.get("happened") or "",
        "api_endpoint": report.get("endpoint") or None,
        "channel_id": "C0FEEDBACK",
        "reporter_id": "U0ALICE",
        "state": "new",
        "created_at": created,
        "updated_at": created,
    }


def store(sessions: sessionmaker[Session], pairs: Sequence[Pair]) -> dict[str, int]:
    """Store every pair's `a` as an open report; the feedback id of each pair's `a`."""
    ids = {pair.id: number for number, pair in enumerate(pairs, start=1)}
    with sessions.begin() as session:
        session.execute(insert(FeedbackRow), [_row(ids[p.id], p.a) for p in pairs])
    return ids


def lookups(
    sessions: sessionmaker[Session], pairs: Sequence[Pair], ids: dict[str, int], limit: int
) -> list[Lookup]:
    """Ask the database for each pair's `b`, as the lookup does (`limit` candidates)."""
    program = SimilarProgram(candidates=limit)
    found = []
    with sessions() as session:
        for pair in pairs:
            b = pair.b
            query = similar_query(
                b["summary"],
                b.get("happened") or "",
                b.get("component"),
                b.get("endpoint"),
                program,
                NOW,
                category=b.get("category"),
                severity=b.get("severity"),
            )
            candidates = tuple(find_similar(session, query, limit))
            found.append(Lookup(pair, query, candidates, ids[pair.id]))
    return found


def a_score(lookup: Lookup, program: SimilarProgram) -> tuple[float, int] | None:
    """`a`'s score and its place among the candidates (0 = best), or None when not found."""
    context = pool(lookup.query, lookup.candidates)
    scored = sorted(
        ((score(lookup.query, c, context, program), c.feedback_id) for c in lookup.candidates),
        key=lambda item: -item[0],
    )
    for place, (value, feedback_id) in enumerate(scored):
        if feedback_id == lookup.row_id:
            return value, place
    return None


def counts(lookups_: Iterable[Lookup], program: SimilarProgram, threshold: float) -> Counts:
    """Confusion counts: a pair is matched when `a` is shown (top `show`, ≥ threshold)."""
    tp = fp = fn = tn = 0
    for lookup in lookups_:
        found = a_score(lookup, program)
        shown = found is not None and found[0] >= threshold and found[1] < program.show
        if lookup.pair.same:
            tp, fn = (tp + 1, fn) if shown else (tp, fn + 1)
        else:
            fp, tn = (fp + 1, tn) if shown else (fp, tn + 1)
    return Counts(tp, fp, fn, tn)
