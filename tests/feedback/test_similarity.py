"""The similar-report lookup: safe queries, the resolved window, index upkeep and the score."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import FeedbackState, SimilarCandidate, SimilarQuery
from bot.feedback import faults
from bot.feedback.lookup import SimilarReports
from bot.feedback.program import SimilarProgram, SimilarWeights
from bot.feedback.similarity import (
    component_agreement,
    endpoint_key,
    pool,
    score,
    similar_query,
    words,
)
from storage import db
from storage.models import FeedbackRow
from storage.similar import find_similar, search_terms

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
REFUND = "Partial refunds fail with 500 error"


def _row(number: int, summary: str, **extra: object) -> dict[str, object]:
    return {
        "id": number,
        "submission_key": f"k{number}",
        "summary": summary,
        "category": "bug",
        "severity": "sev2",
        "component": "payments-api",
        "environment": "production",
        "trying": "",
        "expected": "",
        "actual": extra.pop("actual", ""),
        "channel_id": "C0FEEDBACK",
        "reporter_id": "U0ALICE",
        "state": "new",
        "created_at": NOW - dt.timedelta(days=30),
        "updated_at": NOW,
        **extra,
    }


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database holding a few reports, one of them resolved long ago."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    factory = db.make_sessions(engine)
    with factory.begin() as session:
        session.execute(
            insert(FeedbackRow),
            [
                _row(
                    1,
                    REFUND,
                    actual="POST /v1/refunds answers 500",
                    api_endpoint="POST /v1/refunds",
                ),
                _row(2, "Login page slow after SSO", component="identity"),
                _row(
                    3,
                    "Refund button does nothing",
                    state="resolved",
                    resolved_at=NOW - dt.timedelta(days=40),
                ),
                _row(
                    4,
                    "Refund confirmation email missing",
                    state="resolved",
                    resolved_at=NOW - dt.timedelta(days=3),
                ),
            ],
        )
    yield factory
    engine.dispose()


def _ids(sessions: sessionmaker[Session], summary: str, days: int = 14) -> list[int]:
    query = SimilarQuery(summary=summary, resolved_since=NOW - dt.timedelta(days=days))
    with sessions() as session:
        return [c.feedback_id for c in find_similar(session, query, 10)]


@pytest.mark.parametrize(
    "typed",
    [
        'refund"',
        'refund" OR "login',
        "refund NEAR(login, 2)",
        "refund*",
        "((refund",
        "refund)) AND NOT",
        "summary:refund",
        "refund & !login | (x:*)",
        "^refund -login",
        "refund'; DROP TABLE feedback; --",
    ],
)
def test_query_syntax_in_the_text_is_searched_as_words(
    sessions: sessionmaker[Session], typed: str
) -> None:
    """Query operators, quotes and brackets are read as words: no error, the refunds found."""
    found = _ids(sessions, typed)
    assert 1 in found  # "refund" is still a word of the query
    assert 2 not in found or "login" in typed.lower()


@pytest.mark.parametrize("typed", ["", "   ", "!!! ??? ...", "()*\"'", "the and of", "a"])
def test_a_query_without_words_finds_nothing(sessions: sessionmaker[Session], typed: str) -> None:
    """Empty text, punctuation alone or function words alone return nothing and raise nothing."""
    assert _ids(sessions, typed) == []


def test_resolved_reports_match_only_within_the_window(sessions: sessionmaker[Session]) -> None:
    """Open reports always match; resolved ones only when resolved inside the window."""
    assert sorted(_ids(sessions, "refund", days=14)) == [1, 4]
    assert sorted(_ids(sessions, "refund", days=60)) == [1, 3, 4]
    with sessions() as session:
        open_only = find_similar(session, SimilarQuery(summary="refund"), 10)
    assert [c.feedback_id for c in open_only] == [1]


def test_the_index_follows_edits_and_deletions(sessions: sessionmaker[Session]) -> None:
    """A changed summary is found by its new words only, a deleted report not at all."""
    with sessions.begin() as session:
        session.execute(
            update(FeedbackRow).where(FeedbackRow.id == 2).values(summary="Card declined wrongly")
        )
        session.execute(update(FeedbackRow).where(FeedbackRow.id == 2).values(state="ticketed"))
    assert 2 in _ids(sessions, "declined card")
    assert 2 not in _ids(sessions, "login slow")
    with sessions.begin() as session:
        session.execute(delete(FeedbackRow).where(FeedbackRow.id == 1))
    assert 1 not in _ids(sessions, "partial refunds 500")


def test_the_candidate_carries_what_the_reporter_is_shown(sessions: sessionmaker[Session]) -> None:
    """A candidate has the report's text, state, endpoint, times and a positive text score."""
    with sessions() as session:
        [first, *_] = find_similar(session, SimilarQuery(summary="partial refund failing"), 5)
    assert (first.feedback_id, first.summary, first.state) == (1, REFUND, FeedbackState.NEW)
    assert first.endpoint == "POST /v1/refunds" and first.happened.startswith("POST")
    assert first.created_at == NOW - dt.timedelta(days=30)
    assert first.text_score > 0 and first.reporters == 1 and not first.known_issue


def test_the_lookup_shows_the_same_problem_and_not_another(
    sessions: sessionmaker[Session],
) -> None:
    """Through the service, a reworded refund report finds the refund report, not the login."""
    lookup = SimilarReports(sessions, SimilarProgram(threshold=0.3), lambda: NOW)
    matches = lookup.find("partial refund fails, server error 500", "", "payments-api", None)
    assert [m.candidate.feedback_id for m in matches][:1] == [1]
    assert all(0 <= m.score <= 1 for m in matches)
    picked = lookup.find("partial refund fails, server error 500", "", "payments-api", None, "bug")
    assert [m.candidate.feedback_id for m in picked][:1] == [1]
    assert picked[0].candidate.category == "bug"
    assert picked[0].score > matches[0].score  # the same category, as the reporter picked it
    assert SimilarReports(sessions, SimilarProgram(enabled=False), lambda: NOW).find(REFUND) == []


# -- the score, without a database -------------------------------------------------------------


def _candidate(
    summary: str,
    component: str = "payments-api",
    endpoint: str | None = None,
    *,
    happened: str = "",
    category: str = "",
    severity: str = "sev2",
) -> SimilarCandidate:
    return SimilarCandidate(
        feedback_id=1,
        summary=summary,
        happened=happened,
        severity=severity,
        state=FeedbackState.NEW,
        component=component,
        endpoint=endpoint,
        created_at=NOW,
        resolved_at=None,
        ticket_key=None,
        ticket_url=None,
        channel_id="C0FEEDBACK",
        receipt_ts=None,
        receipt_permalink=None,
        text_score=1.0,
        category=category,
    )


def _score(
    query: SimilarQuery, candidate: SimilarCandidate, program: SimilarProgram | None = None
) -> float:
    program = program or SimilarProgram()
    return score(query, candidate, pool(query, [candidate]), program)


def _weighted(**weights: float) -> SimilarProgram:
    return SimilarProgram(weights=SimilarWeights(**weights))


def test_the_component_raises_or_lowers_the_score() -> None:
    """One component (names sharing a word, "api" and the like aside) > none given > another."""
    program = _weighted(same_component=0.1, different_component=0.1)
    query = SimilarQuery(summary="Payout report totals wrong", component="reporting-api")
    stored = "Payout totals in the monthly report are off by a cent"
    same = _score(query, _candidate(stored, component="Reporting"), program)
    unknown = _score(SimilarQuery(summary=query.summary), _candidate(stored), program)
    other = _score(query, _candidate(stored, component="payments-api"), program)
    assert same > unknown > other
    assert component_agreement("checkout-api", "Checkout service") is True
    assert component_agreement("checkout-api", "identity") is False
    assert component_agreement("api", "checkout") is None  # nothing but a suffix: unknown


def test_the_endpoint_raises_or_lowers_the_score() -> None:
    """Same endpoint (ids aside) > no endpoint > same path, other method > another endpoint."""
    mine, theirs = "Order status stuck in pending", "Orders never leave the pending state"
    program = _weighted(same_endpoint=0.1, different_endpoint=0.15)

    def with_endpoints(ours: str | None, stored: str | None) -> float:
        query = SimilarQuery(summary=mine, endpoint=ours)
        return _score(query, _candidate(theirs, endpoint=stored), program)

    same = with_endpoints("GET /v1/orders/8812/status", "GET /v1/orders/ord_99a1b2/status")
    none = with_endpoints(None, "GET /v1/orders/1/status")
    method = with_endpoints("PUT /v1/orders/1/status", "GET /v1/orders/2/status")
    other = with_endpoints("GET /v1/payouts/1", "GET /v1/orders/1/status")
    assert same > method > other
    assert same > none > other


def test_the_category_and_severity_picked_count_when_both_are_known() -> None:
    """The same category and severity raise the score, another category lowers it."""
    stored = "Refund webhook arrives late"

    def picked(category: str | None, severity: str | None) -> float:
        query = SimilarQuery(
            summary="Refund webhooks delayed", category=category, severity=severity
        )
        return _score(query, _candidate(stored, category="integration", severity="sev2"))

    both, unknown, other = picked("integration", "sev2"), picked(None, None), picked("access", None)
    assert both > picked("integration", None) > unknown > other
    assert picked("Integration ", None) == picked("integration", None)


def test_the_kind_of_fault_tells_two_problems_on_one_subject_apart() -> None:
    """A timeout is not a 500, and "charged twice" is the opposite of "never charged"."""
    query = SimilarQuery(summary="Card payments fail with 500 on checkout")
    same_kind = _score(query, _candidate("Checkout card payments error: internal server error"))
    other_kind = _score(query, _candidate("Checkout card payments time out after 30 s"))
    assert same_kind > other_kind
    twice = SimilarQuery(summary="Customer charged twice for one order")
    assert _score(twice, _candidate("Order charged twice by the card payment")) > _score(
        twice, _candidate("Order paid but the customer was never charged")
    )
    request = _score(
        SimilarQuery(summary="Please add a CSV export to the payouts page"),
        _candidate("Payouts page CSV export fails with 500"),
    )
    assert request < _score(
        SimilarQuery(summary="Payouts CSV export broken, error 500"),
        _candidate("Payouts page CSV export fails with 500"),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Checkout returns 502 Bad Gateway", {"error"}),
        ("GET /v1/payouts answers 403 for admins", {"access"}),
        ("Dashboard takes forever, then 504", {"slow"}),
        ("429 Too Many Requests from the partner API", {"limit"}),
        ("Webhook sent twice for one payment", {"duplicate"}),
        ("Refund not received by the customer", {"missing"}),
        ("Payout total is wrong by a cent after rounding", {"wrong"}),
        ("Can't log in with SSO", {"access"}),
        ("Would be nice to filter payouts by date", {"request"}),
        ("Is it safe to retry refunds?", {"question"}),
        ("Merchant onboarding page", set()),
    ],
)
def test_fault_kinds_come_from_general_symptom_words_and_status_classes(
    text: str, expected: set[str]
) -> None:
    """Each kind from its own words or its HTTP status class, and nothing from a mere subject."""
    assert faults.kinds(text) == expected


def test_the_score_stays_in_0_1_and_every_agreeing_sign_raises_it() -> None:
    """No cut-off at the top: a report agreeing on more signs always scores higher."""
    program = _weighted(same_component=1, same_endpoint=1, same_category=1, same_fault=1)
    text = "Refund API fails with 500"
    bare = SimilarQuery(summary=text)
    full = SimilarQuery(
        summary=text, component="refunds", endpoint="POST /v1/refunds", category="bug"
    )
    stored = _candidate(text, component="refunds", endpoint="POST /v1/refunds", category="bug")
    low, high = _score(bare, stored, program), _score(full, stored, program)
    assert 0 <= low < high <= 1


def test_a_typo_counts_as_the_same_word_but_a_number_must_match() -> None:
    """ "timout" meets "timeout" (their character trigrams); error 500 does not meet error 502.

    ("Checkout hangs" is no test of typos: hanging and timing out are one kind of fault.)"""
    typo = _score(SimilarQuery(summary="Checkout timout"), _candidate("Checkout timeout"))
    other = _score(SimilarQuery(summary="Checkout voucher"), _candidate("Checkout timeout"))
    assert typo > other
    assert words("Error 500!") != words("error 502")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Capture returns Bad Gateway", "capture returns 502"),
        ("partner API 504s", "partner API gateway timeouts"),
        ("refunds 500ing?", "refunds: internal server error"),
        ("Can't log-in, e-mail never came", "cannot login, email never came"),
        ("fails for id 3fa85f64-5717-4562-b3fc-2c963f66afa6", "fails for id"),
        ("order 55102 charged, ref ord8f2a91", "order charged, ref"),
        ("charges failed", "charge fails"),
    ],
)
def test_words_are_read_alike_however_they_are_written(one: str, other: str) -> None:
    """Reason phrases are their status codes, spellings are one, ids and quantities go."""
    assert set(words(one)) == set(words(other))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("POST /v1/orders/8812/refunds", ("POST", "/v1/orders/{id}/refunds")),
        ("get https://api.example.com/v2/Payouts/po_8f2a91?x=1", ("GET", "/v2/payouts/{id}")),
        ("/v1/customers/3fa85f64-5717-4562-b3fc-2c963f66afa6", ("", "/v1/customers/{id}")),
        ("DELETE /v1/tokens/{token_id}", ("DELETE", "/v1/tokens/{id}")),
        ("  ", None),
        (None, None),
    ],
)
def test_endpoints_compare_by_method_and_path_with_ids_collapsed(
    raw: str | None, key: tuple[str, str] | None
) -> None:
    """Ids, hosts, query strings and case do not make two endpoints differ."""
    assert endpoint_key(raw) == key


def test_the_window_comes_from_the_program() -> None:
    """The query lets resolved reports match for `resolved_within_days` before now."""
    query = similar_query("x", "", "", "", SimilarProgram(resolved_within_days=7), NOW)
    assert query.resolved_since == NOW - dt.timedelta(days=7)
    assert query.component is None and query.endpoint is None


def test_the_section_rejects_typos_and_weights_that_say_nothing() -> None:
    """Unknown keys, a threshold past 1 and all-zero text weights are errors."""
    with pytest.raises(ValidationError):
        SimilarProgram.model_validate({"treshold": 0.5})
    with pytest.raises(ValidationError):
        SimilarProgram(threshold=1.5)
    with pytest.raises(ValidationError):
        SimilarWeights(summary=0, happened=0, words=0, cross=0, grams=0, wording=0, database=0)


def test_a_status_code_and_its_reason_phrase_find_each_other(
    sessions: sessionmaker[Session],
) -> None:
    """ "Bad Gateway" searches for 502 too and 502 for "bad gateway"; a UUID is no search term."""
    assert search_terms(SimilarQuery(summary="Capture gets Bad Gateway")) == [
        "capture",
        "gets",
        "bad",
        "gateway",
        "502",
    ]
    assert "bad gateway" in search_terms(SimilarQuery(summary="capture 502s"))
    assert search_terms(SimilarQuery(summary="x-id 3fa85f64-5717-4562-b3fc-2c963f66afa6")) == ["id"]
    with sessions.begin() as session:
        session.execute(insert(FeedbackRow), [_row(5, "Captures answer 502 since noon")])
    assert 5 in _ids(sessions, "bad gateway")
    assert 1 in _ids(sessions, "refunds: Internal Server Error")
