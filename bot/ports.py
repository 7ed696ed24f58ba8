"""Ports: the small interfaces services use to reach the outside world.

Implementations raise `DeliveryDeferred` when a call may succeed later (rate limit, 5xx,
timeout, connection failure) and `DeliveryRefused` when it never will (a 4xx such as an
unknown channel). They never raise transport-specific exceptions to the services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain import Feedback, ThreadNote, Ticket, TicketDraft

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Return the current time in UTC (the production clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PostedMessage:
    """Where a message landed."""

    channel_id: str
    ts: str
    permalink: str | None


class Notifier(Protocol):
    """Tells people in the chat tool about feedback."""

    def post_receipt(self, feedback: Feedback) -> PostedMessage:
        """Post the feedback's receipt (its home thread) to its channel."""
        ...

    def reply_to_source(self, feedback: Feedback) -> None:
        """Reply in the reported message's thread with a link to the feedback."""
        ...

    def confirm_to_reporter(self, feedback: Feedback) -> None:
        """Tell the reporter, privately, that the feedback was filed and where."""
        ...

    def tell_reporter_of_failure(self, feedback: Feedback, reason: str) -> None:
        """Tell the reporter the feedback is saved but could not be posted, and why."""
        ...

    def refresh_receipt(self, feedback: Feedback) -> None:
        """Re-render the receipt in place (ticket, status)."""
        ...

    def note_in_thread(self, feedback: Feedback, note: ThreadNote) -> None:
        """Post a short update in the feedback's home thread."""
        ...

    def tell_reporter_of_ticket(self, feedback: Feedback) -> None:
        """Tell the reporter, privately, that the feedback has a ticket."""
        ...

    def permalink(self, channel_id: str, ts: str) -> str | None:
        """Return a link to a message, or None when it cannot be had right now."""
        ...


class TicketTracker(Protocol):
    """An issue tracker (Jira). Raises DeliveryDeferred / DeliveryRefused like every port."""

    def find(self, label: str) -> Ticket | None:
        """Return the issue carrying an idempotency label, if any."""
        ...

    def create(self, draft: TicketDraft) -> Ticket:
        """Open an issue."""
        ...

    def get(self, key: str) -> Ticket:
        """Return one issue's current state."""
        ...

    def updated_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with a label updated in the last minutes, oldest change first."""
        ...

    def check(
        self, *, priorities: Sequence[str], components: Sequence[str], custom_fields: Sequence[str]
    ) -> list[str]:
        """Return what of a mapping the tracker would refuse."""
        ...
