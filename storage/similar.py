"""The similar-report lookup: the database's best text matches among open and recent reports.

SQLite ranks with FTS5's bm25 over the `feedback_fts` table, PostgreSQL with `ts_rank` over the
stored `search_vector` (both made by migration 0012). Either way the query is an OR of the
reporter's words, each passed as data: FTS5 gets every word as a quoted string and PostgreSQL a
tsquery built from bare letters and digits, so no user text is ever read as query syntax.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from sqlalchemy import Float, Row, TextualSelect, bindparam, text
from sqlalchemy.orm import Session

from bot.domain import FeedbackState, SimilarCandidate, SimilarQuery
from storage.models import UTCDateTime

# Words per query at most: a pasted log must not turn into a query that reads the whole index.
MAX_TERMS = 16
# Shorter tokens are noise ("a", "x"); digits are kept from two on (status codes, versions).
_WORD = re.compile(r"[^\W_]+")

# Function words of English: present in nearly every report, they would widen an OR query to
# most of the table while adding nothing to the ranking (bm25 weights them near zero anyway).
# PostgreSQL's english configuration drops its own list; this one serves SQLite.
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me
    more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with
    would you your yours""".split()  # noqa: SIM905 - as prose it reads in a glance
)

# HTTP status codes and the reason phrases that stand for them: a reporter writes "Bad Gateway"
# where the log says 502, "gateway timeouts" where it says 504 (RFC 9110's phrases, and the
# forms proxies print). A text is read with each phrase as its code, and the search looks for
# the code and its phrase alike.
REASONS = {
    "400": ("bad request",),
    "401": ("unauthorized", "unauthorised"),
    "403": ("forbidden",),
    "404": ("not found",),
    "408": ("request timeout",),
    "422": ("unprocessable entity", "unprocessable content"),
    "429": ("too many requests",),
    "500": ("internal server error",),
    "502": ("bad gateway",),
    "503": ("service unavailable",),
    "504": ("gateway timeout", "gateway time-out", "upstream request timeout"),
}
_PHRASE_CODE = {phrase: code for code, phrases in REASONS.items() for phrase in phrases}
_REASON = re.compile(
    r"\b(" + "|".join(re.escape(p) for p in sorted(_PHRASE_CODE, key=len, reverse=True)) + r")s?\b"
)
# A code as people write it in a sentence: "503s", "500ing", "a 502'd call".
_CODE_FORM = re.compile(r"\b([1-5]\d\d)(?:s|es|ing|ed|'d|'s)\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# One word, however it is spelt: e-mail, log in / sign-in, timed out / time-out, can't.
_SPELLINGS = (
    (re.compile(r"\be-mail"), "email"),
    (re.compile(r"\b(?:log|sign)(?:ged|ging|s)?[ -]?in\b"), "login"),
    (re.compile(r"\b(?:log|sign)(?:ged|ging|s)?[ -]?out\b"), "logout"),
    (re.compile(r"\btim(?:e|ed|es|ing)[ -]out(s?)\b"), r"timeout\1"),
    (re.compile(r"\b(?:can't|cannot|can not|unable to)\b"), "cannot"),
)


def is_status_code(word: str) -> bool:
    """Whether a word is an HTTP status code (three digits, 100–599)."""
    return len(word) == 3 and word.isdigit() and "1" <= word[0] <= "5"


@lru_cache(maxsize=8192)
def normalised(text: str) -> str:
    """The text as the lookup compares it: case and accents folded, UUIDs (correlation and
    request ids) gone, each HTTP reason phrase replaced by its code, a code's suffix dropped
    ("503s" -> "503"), and one spelling for words written several ways."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = _UUID.sub(" ", folded)
    folded = _REASON.sub(lambda m: f" {_PHRASE_CODE[m.group(1)]} ", folded)
    folded = _CODE_FORM.sub(r"\1", folded)
    for pattern, spelling in _SPELLINGS:
        folded = pattern.sub(spelling, folded)
    return folded


# Ranking costs the database about a microsecond per matching row, and a word found in one
# report in five makes an OR query match a fifth of the table. Past SMALL_TABLE rows, a word
# in more than COMMON_SHARE of the reports only widens the search (its bm25/ts_rank weight is
# small anyway): the query is then the OR of the rarer words, and the re-rank still reads every
# word. When all are common, the two rarest must both be there. (Lucene's "common terms".)
SMALL_TABLE = 10_000
COMMON_SHARE = 0.05

# Columns read back, and the filter: open reports, and resolved ones no older than the window
# (`since` NULL compares as unknown: open reports only). bm25 weighs the summary 3, what
# happened 1 and the endpoint 0.5; ts_rank's weights are for D, C, B, A (the same order). The
# SQL is written out whole, once per database, rather than pieced together.
_SQLITE = """
    SELECT f.id, f.summary, f.actual, f.severity, f.category, f.state, f.component,
        f.api_endpoint, f.created_at, f.resolved_at, f.ticket_key, f.ticket_url, f.channel_id,
        f.receipt_ts, f.receipt_permalink, -bm25(feedback_fts, 3.0, 1.0, 0.5) AS score
    FROM feedback_fts JOIN feedback AS f ON f.id = feedback_fts.rowid
    WHERE feedback_fts MATCH :match AND (f.state != 'resolved' OR f.resolved_at >= :since)
    ORDER BY score DESC LIMIT :limit"""

_POSTGRES = """
    SELECT f.id, f.summary, f.actual, f.severity, f.category, f.state, f.component,
        f.api_endpoint, f.created_at, f.resolved_at, f.ticket_key, f.ticket_url, f.channel_id,
        f.receipt_ts, f.receipt_permalink,
        ts_rank('{0.1, 0.15, 0.35, 1.0}', f.search_vector, q.query, 1) AS score
    FROM feedback AS f, to_tsquery('english', :match) AS q(query)
    WHERE f.search_vector @@ q.query AND (f.state != 'resolved' OR f.resolved_at >= :since)
    ORDER BY score DESC LIMIT :limit"""


def _typed(sql: str) -> TextualSelect:
    """The statement with its timestamps read and bound as the models do (UTC, aware)."""
    return (
        text(sql)
        .bindparams(bindparam("since", type_=UTCDateTime()))
        .columns(created_at=UTCDateTime(), resolved_at=UTCDateTime(), score=Float())
    )


_SQLITE_QUERY = _typed(_SQLITE)
_POSTGRES_QUERY = _typed(_POSTGRES)


def search_terms(query: SimilarQuery) -> list[str]:
    """The distinct words to search for: the summary's first, then what happened; lower case.

    An HTTP status code brings its reason phrase along and a reason phrase its code (a report
    saying "Bad Gateway" is found by one saying 502); a phrase is one term, searched as a
    phrase. UUIDs are left out: an id names one request, never a kind of problem.
    """
    terms: list[str] = []

    def add(term: str) -> None:
        if term not in terms and len(terms) < MAX_TERMS:
            terms.append(term)

    for part in (query.summary, query.happened):
        text = _UUID.sub(" ", part.lower())
        for word in _WORD.findall(text):
            if word in STOPWORDS or len(word) < 2:
                continue
            add(word)
        for word in _WORD.findall(normalised(part)):
            if word in REASONS:
                add(word)
                if not any(phrase in text for phrase in REASONS[word]):
                    add(REASONS[word][0])
    return terms


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_match(terms: list[str]) -> str:
    """An FTS5 query matching any of the terms, each a quoted string (never an operator)."""
    return " OR ".join(_quoted(term) for term in terms)


def _searchable(term: str) -> bool:
    """Whether a term is letters and digits only, words of a phrase split by single spaces."""
    return all(word.isalnum() for word in term.split(" "))


def _tsterm(term: str) -> str:
    """A term as tsquery text: a phrase's words follow each other (`<->`)."""
    return " <-> ".join(term.split(" "))


def tsquery(terms: list[str]) -> str:
    """A to_tsquery text matching any of the terms (letters and digits only, so no syntax)."""
    return " | ".join(_tsterm(term) for term in terms if _searchable(term))


def find_similar(session: Session, query: SimilarQuery, limit: int) -> list[SimilarCandidate]:
    """Return up to `limit` open or recently resolved reports whose text is closest, best first.

    A query without a word to search for (empty, only punctuation, only function words)
    returns nothing.
    """
    terms = search_terms(query)
    if not terms or limit < 1:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        terms = [term for term in terms if _searchable(term)]
    shares = _postgres_shares(session, terms) if postgres else _sqlite_shares(session, terms)
    rare = [term for term in terms if shares.get(term, 0.0) <= COMMON_SHARE]
    if rare:
        match = tsquery(rare) if postgres else fts5_match(rare)
    else:
        rarest = sorted(terms, key=lambda term: shares[term])[:2]
        match = (
            " & ".join(f"({_tsterm(t)})" for t in rarest)
            if postgres
            else " AND ".join(_quoted(t) for t in rarest)
        )
    if not match:
        return []
    params = {"match": match, "since": query.resolved_since, "limit": limit}
    rows = session.execute(_POSTGRES_QUERY if postgres else _SQLITE_QUERY, params)
    return [_candidate(row) for row in rows]


_SQLITE_SIZE = text("SELECT max(id) FROM feedback")  # the size, near enough, in one index step
_SQLITE_COUNT = text("SELECT count(*) FROM feedback_fts WHERE feedback_fts MATCH :match")

# The share of reports holding each word, from the statistics ANALYZE (autovacuum) keeps of
# the tsvector column: a lexeme missing from its most common elements is rarer than all of them.
_POSTGRES_SHARES = text("""
    SELECT w.word, max(s.share) AS share
    FROM unnest(CAST(:words AS text[])) AS w(word)
    JOIN pg_class AS c ON c.oid = to_regclass('feedback') AND c.reltuples > :small
    JOIN pg_stats AS p ON p.schemaname = current_schema() AND p.tablename = 'feedback'
        AND p.attname = 'search_vector'
    CROSS JOIN LATERAL unnest(p.most_common_elems::text::text[], p.most_common_elem_freqs)
        AS s(lexeme, share)
    WHERE s.lexeme = ANY(tsvector_to_array(to_tsvector('english', w.word)))
    GROUP BY w.word""")


def _sqlite_shares(session: Session, terms: list[str]) -> dict[str, float]:
    """Each term's share of the reports, counted in the index; none for a small table."""
    size = session.execute(_SQLITE_SIZE).scalar() or 0
    if size <= SMALL_TABLE:
        return {}
    count = session.execute
    return {t: (count(_SQLITE_COUNT, {"match": _quoted(t)}).scalar() or 0) / size for t in terms}


def _postgres_shares(session: Session, terms: list[str]) -> dict[str, float]:
    """Each common term's share of the reports, from the planner's statistics."""
    rows = session.execute(_POSTGRES_SHARES, {"words": terms, "small": SMALL_TABLE})
    return {row.word: float(row.share) for row in rows}


def _candidate(row: Row[Any]) -> SimilarCandidate:
    return SimilarCandidate(
        feedback_id=row.id,
        summary=row.summary,
        happened=row.actual,
        severity=row.severity,
        state=FeedbackState(row.state),
        component=row.component,
        endpoint=row.api_endpoint,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        ticket_key=row.ticket_key,
        ticket_url=row.ticket_url,
        channel_id=row.channel_id,
        receipt_ts=row.receipt_ts,
        receipt_permalink=row.receipt_permalink,
        text_score=float(row.score),
        known_issue=row.ticket_key is not None,
        category=row.category or "",
    )
