"""Errors the services raise, in domain terms.

BotError
├── InvalidFeedback        the draft breaks a rule; `problems` maps each field to a message
└── DeliveryError          an outbound side effect did not happen
    ├── DeliveryDeferred   try again later (rate limit, 5xx, timeout); `retry_after` if known
    └── DeliveryRefused    the peer refused for good (4xx); retrying will not help
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Effect, Field


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class InvalidFeedback(BotError):
    """The submitted feedback breaks a rule."""

    def __init__(self, problems: dict[Field, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


class DeliveryError(BotError):
    """An outbound call (Slack, Jira) failed."""


class DeliveryDeferred(DeliveryError):
    """The peer is busy or down; the call should be retried later."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        peer_down: bool = False,
        waiting: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        # Not a failure: something it needs is not ready yet (e.g. the receipt it links to).
        # Retried after exactly `retry_after`, without counting as an attempt or backing off.
        self.waiting = waiting
        # The peer itself is unavailable (not just this call): hold back every effect of the
        # same kind until the retry time, so a backlog probes once instead of hammering.
        self.peer_down = peer_down


class DeliveryRefused(DeliveryError):
    """The peer refused the call for good; a human has to fix something first.

    `then` holds effects to queue instead (for example, telling someone about the refusal).
    """

    def __init__(self, reason: str, then: Sequence[Effect] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.then = tuple(then)
