"""A burst's reports written as one batch: each stored once, a repeat answered with the first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Engine, func, select

from bot.domain import Effect, FeedbackDraft, UsersAffected
from storage import db
from storage.models import AuditRow, FeedbackRow, OutboxRow
from storage.repositories import FeedbackRepository

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
RECEIPT = Effect("feedback.post_receipt", {}, "feedback.post_receipt:{feedback_id}")
TICKET = Effect("ticket.create", {}, "ticket.create:{feedback_id}")


def draft(key: str, **changes: Any) -> FeedbackDraft:
    fields: dict[str, Any] = {
        "summary": f"Refunds fail with 502 ({key})",
        "category": "bug",
        "severity": "sev1",
        "component": "payments-api",
        "environment": "production",
        "trying": "refund an order",
        "expected": "the refund is made",
        "actual": "502 Bad Gateway",
        "api_endpoint": "POST /v1/refunds",
        "correlation_id": None,
        "users_affected": UsersAffected.MANY,
        "channel_id": "C1",
        "reporter_id": f"U-{key}",
        "submission_key": key,
    }
    return FeedbackDraft(**{**fields, **changes})


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.scalar(select(func.count()).select_from(model))
            for model in (FeedbackRow, AuditRow, OutboxRow)
        )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


def test_a_batch_stores_each_new_report_once_and_answers_repeats_with_the_stored_one(
    engine: Engine,
) -> None:
    repo = FeedbackRepository(db.make_sessions(engine), "HC")
    earlier = repo.add(draft("k-earlier"), T0, [RECEIPT]).feedback
    assert counts(engine) == (1, 1, 1)

    batch = [
        (draft("k1"), T0, (RECEIPT, TICKET)),
        (draft("k-earlier"), T0, (RECEIPT,)),  # Slack's retry of an earlier submission
        (draft("k2", severity="sev3"), T0, (RECEIPT,)),
        (draft("k1", summary="a double click"), T0, (RECEIPT, TICKET)),  # twice in the batch
    ]
    results = repo._add_many(batch)  # as the group commit hands it a burst

    first, retried, second, doubled = (cast(Any, r) for r in results)
    assert first.created and second.created
    assert not retried.created and retried.feedback.id == earlier.id
    assert not doubled.created and doubled.feedback.id == first.feedback.id
    assert doubled.feedback.summary == "Refunds fail with 502 (k1)"  # the first one stays
    assert len({earlier.id, first.feedback.id, second.feedback.id}) == 3
    assert first.feedback.short_id == f"HC-{first.feedback.id}"
    assert second.feedback.severity == "sev3" and second.feedback.reporter_id == "U-k2"
    # One audit row for each new report, and its effects queued once, keyed by its own id.
    assert counts(engine) == (3, 3, 4)
    with engine.connect() as connection:
        keys = set(connection.scalars(select(OutboxRow.idempotency_key)))
        audited = set(connection.scalars(select(AuditRow.feedback_id)))
    new = first.feedback.id
    assert f"ticket.create:{new}" in keys and f"feedback.post_receipt:{new}" in keys
    assert f"feedback.post_receipt:{second.feedback.id}" in keys
    assert audited == {earlier.id, first.feedback.id, second.feedback.id}
    assert repo.get(new) == first.feedback  # what the caller heard is what was stored


def test_a_report_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    engine: Engine,
) -> None:
    repo = FeedbackRepository(db.make_sessions(engine), "HC")
    broken = draft("k-broken", summary=None)  # NOT NULL: refused for another reason than a repeat

    results = repo._add_many(
        [(draft("k1"), T0, (RECEIPT,)), (broken, T0, (RECEIPT,)), (draft("k2"), T0, (RECEIPT,))]
    )

    assert isinstance(results[1], Exception)
    stored = [cast(Any, r) for r in (results[0], results[2])]
    assert all(s.created for s in stored)
    assert counts(engine) == (2, 2, 2)
    assert repo.by_submission_key("k-broken") is None
