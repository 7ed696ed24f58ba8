"""A complete, valid feedback form, for tests and benchmarks that need one to submit."""

from __future__ import annotations

from typing import Any


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
