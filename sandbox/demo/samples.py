"""A complete, valid feedback form, for tests and benchmarks that need one to submit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.domain import FeedbackDraft, UsersAffected


def feedback_form(channel: str, **overrides: Any) -> dict[str, Any]:
    """Values for every field of the feedback modal, keyed by block id (the example program's)."""
    values: dict[str, Any] = {
        "summary": "Checkout returns 504 for card payments",
        "severity": "sev1",
        "category": "bug",
        "component": "payments-api",
        "environment": "production",
        "trying": "Pay for an order with a Visa card",
        "expected": "Order confirmed",
        "actual": "Spinner for 30 s, then 'Gateway timeout'",
        "api_endpoint": "POST /v1/payments",
        "correlation_id": "abc-123-def",
        "users_affected": "many",
        "channel": channel,
    }
    values.update(overrides)
    return values


def feedback_draft(**changes: Any) -> FeedbackDraft:
    """A valid draft for the example program (a sev1 payments bug), with fields changed."""
    draft = FeedbackDraft(
        summary="Checkout 504",
        category="bug",
        severity="sev1",
        component="payments-api",
        environment="production",
        trying="",
        expected="",
        actual="It times out",
        api_endpoint=None,
        correlation_id=None,
        users_affected=UsersAffected.MANY,
        channel_id="C0FEEDBACK",
        reporter_id="U0ALICE",
        submission_key="view:V1",
    )
    return replace(draft, **changes)
