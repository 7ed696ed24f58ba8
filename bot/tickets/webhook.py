"""The Jira webhook endpoint (HTTP mode): verified, deduplicated status changes.

Jira signs admin webhooks that have a secret with `X-Hub-Signature: sha256=<hex>` over the raw
body, and keeps `X-Atlassian-Webhook-Identifier` across its retries, which is the dedup key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from bot.domain import TicketCategory
from bot.tickets.service import TicketService

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
PATH = "/jira/webhook"


def _answer(
    start: Callable[..., Any], status: str, body: dict[str, Any] | None = None
) -> list[bytes]:
    data = json.dumps(body or {}).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _object(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (an event of another shape)."""
    return value if isinstance(value, dict) else {}


def _moment(millis: object) -> dt.datetime:
    """The event's time from its epoch milliseconds; now when missing or out of range."""
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        try:
            return dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
        except (OverflowError, OSError, ValueError):  # NaN, or beyond year 9999
            pass
    return dt.datetime.now(dt.UTC)


def status_change(
    event: dict[str, Any],
) -> tuple[str, str, TicketCategory, str, dt.datetime] | None:
    """Pull (key, status, category, actor, at) out of a Jira issue event, if its status changed."""
    if not str(event.get("webhookEvent", "")).startswith("jira:issue_"):
        return None
    issue = _object(event.get("issue"))
    items = _object(event.get("changelog")).get("items")
    items = items if isinstance(items, list) else []
    change = next((i for i in items if isinstance(i, dict) and i.get("field") == "status"), None)
    key = issue.get("key")
    if change is None or not isinstance(key, str) or not key:
        return None
    status = _object(_object(issue.get("fields")).get("status"))
    category = _object(status.get("statusCategory")).get("key")
    known = {c.value for c in TicketCategory}
    actor = _object(event.get("user")).get("displayName") or "someone in Jira"
    return (
        key,
        str(change.get("toString") or status.get("name") or "Unknown"),
        TicketCategory(category)
        if isinstance(category, str) and category in known
        else TicketCategory.IN_PROGRESS,
        str(actor)[:100],
        _moment(event.get("timestamp")),
    )


class JiraWebhook:
    """WSGI app taking Jira's issue events into the ticket service."""

    def __init__(self, secret: str, tickets: TicketService) -> None:
        self._secret = secret.encode()
        self._tickets = tickets

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start, "405 Method Not Allowed")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _answer(start, "413 Content Too Large")
        body = environ["wsgi.input"].read(length) if length else b""
        signature = environ.get("HTTP_X_HUB_SIGNATURE", "")
        expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            log.warning("jira webhook refused: bad signature (length %s)", len(body))
            return _answer(start, "401 Unauthorized", {"error": "invalid signature"})
        try:
            event = json.loads(body)
        except ValueError:
            return _answer(start, "400 Bad Request", {"error": "not JSON"})
        if not isinstance(event, dict):
            return _answer(start, "400 Bad Request", {"error": "not an event"})
        identifier = environ.get("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER")
        if identifier and not self._tickets.take_delivery(identifier):
            log.info("jira webhook %s already taken in; ignoring the redelivery", identifier)
            return _answer(start, "200 OK", {"status": "duplicate"})
        change = status_change(event)
        if change is not None:
            key, status, category, actor, at = change
            self._tickets.apply_change(key, status, category, actor, at)
        return _answer(start, "200 OK", {"status": "ok"})
