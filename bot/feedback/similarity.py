"""Is a stored report the same problem as the one being typed? Pure rules, one score 0–1.

The database finds candidates by text rank (storage/similar.py); this re-ranks them on
normalised words (storage.similar.normalised: HTTP reason phrases as their codes, one spelling
of "log in" or "e-mail", ids and quantities left out; then a light stemmer), weighted by how
rare each word is among the lookup's candidates, and on character trigrams, which forgive what
the database's exact-stem matching cannot: a typo ("timout"), an abbreviation, another form of
a word. Words shared say "same subject", not "same fault", so the score also weighs what tells
two faults on one subject apart: another endpoint or component, another kind of fault
(bot/feedback/faults.py: a 500 is not a timeout), opposite faults ("charged twice" / "never
charged"), a feature request against a fault, other HTTP status codes, and the category and
severity the reporters picked. Every weight is in the program file's `similar:` section."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from bot.domain import SimilarCandidate, SimilarQuery
from bot.feedback import faults
from bot.feedback.program import SimilarProgram
from storage.similar import STOPWORDS, is_status_code, normalised

_WORD = re.compile(r"[^\W_]+")
_METHOD = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+", re.IGNORECASE)
# A path segment that names one thing rather than a kind of thing: digits, UUIDs, hex, or a
# token mixing letters and digits (`ord_8f2a91`, `a1b2c3`). `v1`, `v2`… are versions, kept.
_VERSION = re.compile(r"^v\d{1,2}$")
_ID = re.compile(r"^(\d+|[0-9a-f-]{8,}|(?=.*\d)[\w-]{5,}|\{[^}]*\}|:\w+|<[^>]*>)$", re.I)


@dataclass(frozen=True)
class SimilarMatch:
    """A stored report the lookup shows, with its score (0–1)."""

    candidate: SimilarCandidate
    score: float


def similar_query(
    summary: str,
    happened: str,
    component: str | None,
    endpoint: str | None,
    program: SimilarProgram,
    now: dt.datetime,
    category: str | None = None,
    severity: str | None = None,
) -> SimilarQuery:
    """The lookup for a report being typed: resolved reports match within the window."""
    return SimilarQuery(
        summary=summary,
        happened=happened,
        component=component or None,
        endpoint=endpoint or None,
        resolved_since=now - program.resolved_window,
        category=category or None,
        severity=severity or None,
    )


def _stem(word: str) -> str:
    """A light English stem, enough that "fails", "failed" and "failing" meet, and "charge",
    "charges", "charged" and "charging" too (a final "e" goes, a doubled consonant is undone)."""
    if not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # stopped -> stop, but not called -> cal
            break
    else:
        if word.endswith(("sses", "xes", "ches", "shes")):
            word = word[:-2]
        elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    if word.endswith("ly") and len(word) > 5:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _kept(word: str) -> bool:
    """Whether a word says something about the problem: not a function word, and not a
    number or an id that names one thing (an order number, a date, a correlation id). HTTP
    status codes are kept: a 502 is not a 500."""
    if word in STOPWORDS:
        return False
    if word.isdigit():
        return is_status_code(word)
    return not (len(word) >= 6 and not word.isalpha() and any(ch.isdigit() for ch in word))


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[str, ...]:
    """The text's content words: folded and normalised (storage.similar.normalised: case,
    accents, HTTP reason phrases as their codes, ids gone), function words, quantities and
    ids left out, stemmed."""
    return tuple(_stem(w) for w in _WORD.findall(normalised(text)) if _kept(w))


@lru_cache(maxsize=8192)
def _grams(text: str) -> Mapping[str, float]:
    """The text's character trigrams, word by word (" refund " -> " re", "ref", ...), as a unit
    vector: a typo, an abbreviation or another form of a word still shares most of them."""
    counts: dict[str, int] = {}
    for word in words(text):
        padded = f" {word} "
        for i in range(len(padded) - 2):
            gram = padded[i : i + 3]
            counts[gram] = counts.get(gram, 0) + 1
    norm = math.sqrt(sum(n * n for n in counts.values()))
    return {g: n / norm for g, n in counts.items()} if norm else {}


def grams_alike(a: str, b: str) -> float:
    """Cosine of the two texts' character trigrams (0–1): typos and word forms forgiven."""
    left, right = _grams(a), _grams(b)
    if len(left) > len(right):
        left, right = right, left
    return sum(x * right.get(g, 0.0) for g, x in left.items())


def _vector(found: Sequence[str], rarity: Mapping[str, float]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for word in found:
        counts[word] = counts.get(word, 0) + 1
    return {w: (1 + math.log(n)) * rarity.get(w, 1.0) for w, n in counts.items()}


def shared_words(a: Sequence[str], b: Sequence[str], rarity: Mapping[str, float]) -> float:
    """Cosine of two word lists, each word weighted by its rarity (TF-IDF, 0–1).

    The rarity comes from the lookup's own candidates (`Pool`): they were found because they
    share the report's subject, so the words most of them hold ("dashboard", "payout") say
    little, and the words that set one apart ("capped", "twice", "slow") say what is wrong.
    """
    left, right = _vector(a, rarity), _vector(b, rarity)
    if not left or not right:
        return 0.0
    dot = sum(x * right.get(w, 0.0) for w, x in left.items())
    norms = math.sqrt(sum(x * x for x in left.values()) * sum(x * x for x in right.values()))
    return dot / norms if norms else 0.0


@dataclass(frozen=True)
class Pool:
    """What one lookup knows of its candidates as a whole: how rare each word is among them
    (an inverse document frequency, 0–1), and the best database rank."""

    rarity: Mapping[str, float]
    best_rank: float


def pool(query: SimilarQuery, candidates: Sequence[SimilarCandidate]) -> Pool:
    """Word rarity among the query and its candidates, and their best database rank."""
    documents = [set(words(query.summary) + words(query.happened))] + [
        set(words(c.summary) + words(c.happened)) for c in candidates
    ]
    counts: dict[str, int] = {}
    for document in documents:
        for word in document:
            counts[word] = counts.get(word, 0) + 1
    size = len(documents)
    # log((n + 1) / df) over log(n + 1): 1 for a word of one document, near 0 for all.
    top = math.log(size + 1)
    rarity = {w: max(math.log((size + 1) / df) / top, 0.05) for w, df in counts.items()}
    return Pool(rarity, max((c.text_score for c in candidates), default=0.0))


def closeness(a: Sequence[str], b: Sequence[str]) -> float:
    """How alike two word lists read, forgiving order and typos (rapidfuzz, 0–1).

    token_sort_ratio is strict about extra words, token_set_ratio forgives them all (a summary
    whose words are all in the other scores 1): their mean keeps a short summary from matching
    every long one that mentions its words.
    """
    if not a or not b:
        return 0.0
    left, right = " ".join(a), " ".join(b)
    return (fuzz.token_sort_ratio(left, right) + fuzz.token_set_ratio(left, right)) / 200


def endpoint_key(endpoint: str | None) -> tuple[str, str] | None:
    """An endpoint as (method, path), ids collapsed to `{id}`; None when there is none.

    `POST https://api.example.com/v1/orders/8812/refunds?x=1` → `("POST", "/v1/orders/{id}/
    refunds")`; the method is "" when not given.
    """
    if not endpoint or not endpoint.strip():
        return None
    text = endpoint.strip()
    method = ""
    found = _METHOD.match(text)
    if found:
        method = found.group(1).upper()
        text = text[found.end() :]
    text = text.split()[0] if text.split() else ""
    path = urlsplit(text).path if "://" in text else text.split("?")[0].split("#")[0]
    segments = [s for s in path.strip().lower().split("/") if s]
    if not segments:
        return None
    collapsed = [s if _VERSION.match(s) or not _ID.match(s) else "{id}" for s in segments]
    return method, "/" + "/".join(collapsed)


def endpoint_agreement(a: str | None, b: str | None) -> float | None:
    """1 for the same endpoint, 0.5 for the same path by another (or no) method, 0 for another
    endpoint, None when either report names none."""
    left, right = endpoint_key(a), endpoint_key(b)
    if left is None or right is None:
        return None
    if left[1] != right[1]:
        return 0.0
    return 1.0 if left[0] == right[0] or not (left[0] and right[0]) else 0.5


# Words a component's name often carries beside what it names: "checkout-api", "Checkout" and
# "checkout service" are one component, as a reporter would type it.
_COMPONENT_FILLER = frozenset(
    """api apis svc service services ui app apps web frontend backend server client module
    system platform portal""".split()  # noqa: SIM905 - as prose it reads in a glance
)


def component_words(component: str | None) -> frozenset[str]:
    """A component's name as its content words, generic suffixes ("api", "svc") left out."""
    if not component:
        return frozenset()
    return frozenset(w for w in words(component) if w not in _COMPONENT_FILLER)


def component_agreement(a: str | None, b: str | None) -> bool | None:
    """Whether two components are one (their names share a word), None when either is unknown."""
    left, right = component_words(a), component_words(b)
    if not left or not right:
        return None
    return bool(left & right)


def status_codes(text: str) -> frozenset[str]:
    """The HTTP status codes a text quotes, as digits or as reason phrases ("Bad Gateway")."""
    return frozenset(w for w in _WORD.findall(normalised(text)) if is_status_code(w))


@dataclass(frozen=True)
class Signals:
    """What the score is made of, for one candidate of one lookup (see `score`)."""

    summary: float  # rarity-weighted cosine of the summaries' words
    happened: float  # the same for what happened (or summary vs the whole other report)
    words: float  # the same for the whole reports
    cross: float  # the same for one's summary against the other's whole report, the better way
    grams: float  # character-trigram cosine of the whole reports
    wording: float  # rapidfuzz closeness of the summaries
    database: float  # the database's rank, relative to the lookup's best
    component: bool | None  # one component (names share a word), None when unknown
    endpoint: float | None  # endpoint_agreement
    category: bool | None  # the reporters picked one category, None when unknown
    severity: bool | None  # the reporters picked one severity, None when unknown
    fault: float | None  # share of fault kinds in common (Jaccard), None when either names none
    opposite: bool  # one says "too many" (duplicate) where the other says "missing"
    request_vs_fault: bool  # one asks for a change, the other reports a fault
    status: bool | None  # the status codes quoted share one, None unless both quote some


def signals(query: SimilarQuery, candidate: SimilarCandidate, pool: Pool) -> Signals:
    """Every sign of "the same problem" the score weighs, before weighting."""
    rarity = pool.rarity
    q_summary, c_summary = words(query.summary), words(candidate.summary)
    q_happened, c_happened = words(query.happened), words(candidate.happened)
    q_all, c_all = q_summary + q_happened, c_summary + c_happened
    # A terse report against a detailed one: the short summary may be all in the long report.
    cross = max(shared_words(q_summary, c_all, rarity), shared_words(q_all, c_summary, rarity))
    # When one side has only a summary: how well it meets the other report as a whole.
    happened = shared_words(q_happened, c_happened, rarity) if q_happened and c_happened else cross
    rank = candidate.text_score / pool.best_rank if pool.best_rank > 0 else 0.0
    q_text = f"{query.summary}\n{query.happened}"
    c_text = f"{candidate.summary}\n{candidate.happened}"
    q_kinds, c_kinds = faults.kinds(normalised(q_text)), faults.kinds(normalised(c_text))
    q_faults, c_faults = q_kinds & faults.FAULTS, c_kinds & faults.FAULTS
    q_codes, c_codes = status_codes(q_text), status_codes(c_text)
    return Signals(
        summary=shared_words(q_summary, c_summary, rarity),
        happened=happened,
        words=shared_words(q_all, c_all, rarity),
        cross=cross,
        grams=grams_alike(q_text, c_text),
        wording=closeness(q_summary, c_summary),
        database=min(max(rank, 0.0), 1.0),
        component=component_agreement(query.component, candidate.component),
        endpoint=endpoint_agreement(query.endpoint, candidate.endpoint),
        category=_same(query.category, candidate.category),
        severity=_same(query.severity, candidate.severity),
        fault=(
            len(q_faults & c_faults) / len(q_faults | c_faults) if q_faults and c_faults else None
        ),
        opposite=faults.opposite(q_faults, c_faults),
        request_vs_fault=faults.asks_for_change(q_kinds) != faults.asks_for_change(c_kinds),
        status=bool(q_codes & c_codes) if q_codes and c_codes else None,
    )


def _same(a: str | None, b: str | None) -> bool | None:
    a, b = (a or "").strip().casefold(), (b or "").strip().casefold()
    return a == b if a and b else None


def _sign(agreement: bool | None, same: float, different: float) -> float:
    if agreement is None:
        return 0.0
    return same if agreement else -different


def combine(found: Signals, program: SimilarProgram) -> float:
    """The weighted text similarity (0–1) plus the boosts, less the penalties, over the most the
    boosts can add: 1 only when the text and every sign agree, and never cut off at the top, so
    a higher score always means more signs of the same problem."""
    w = program.weights
    text = (
        w.summary * found.summary
        + w.happened * found.happened
        + w.words * found.words
        + w.cross * found.cross
        + w.grams * found.grams
        + w.wording * found.wording
        + w.database * found.database
    ) / w.text
    boost = 0.0
    boost += _sign(found.component, w.same_component, 0.0)
    if found.endpoint is not None and found.endpoint > 0:
        boost += w.same_endpoint * found.endpoint
    boost += _sign(found.category, w.same_category, 0.0)
    boost += _sign(found.severity, w.same_severity, 0.0)
    if found.fault is not None and found.fault > 0:
        boost += w.same_fault * found.fault
    penalty = -_sign(found.component, 0.0, w.different_component)
    penalty += w.different_endpoint if found.endpoint == 0 else 0.0
    penalty -= _sign(found.category, 0.0, w.different_category)
    penalty += w.different_fault if found.fault == 0 else 0.0
    penalty += w.opposite_fault if found.opposite else 0.0
    penalty += w.request_vs_fault if found.request_vs_fault else 0.0
    penalty -= _sign(found.status, 0.0, w.different_status)
    return min(max((text + boost - penalty) / (1.0 + w.boosts), 0.0), 1.0)


def score(
    query: SimilarQuery, candidate: SimilarCandidate, pool: Pool, program: SimilarProgram
) -> float:
    """One score 0–1: weighted text closeness, plus the signs of where and what (see `combine`)."""
    return combine(signals(query, candidate, pool), program)


def rank(
    query: SimilarQuery, candidates: Sequence[SimilarCandidate], program: SimilarProgram
) -> list[SimilarMatch]:
    """Score the database's candidates; those at or above the threshold, best first."""
    context = pool(query, candidates)
    scored = [SimilarMatch(c, score(query, c, context, program)) for c in candidates]
    matches = [m for m in scored if m.score >= program.threshold]
    matches.sort(key=lambda m: (-m.score, -m.candidate.created_at.timestamp()))
    return matches[: program.show]
