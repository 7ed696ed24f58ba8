"""What a capability hands the composition root: its service and what the running bot must do
for it (outbox handlers, scheduled jobs, HTTP routes, checks at start, clean-up at stop).

Each capability's builder (`bot/<capability>/build.py`) returns one `Part`; `bot/app/` starts
the jobs, mounts the routes and feeds the handlers to the one outbox worker, knowing nothing of
what they do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.domain import Effect

S = TypeVar("S")

OutboxHandler = Callable[[dict[str, object]], Sequence[Effect]]
"""Carries out one queued effect of its kind; returns the effects it queues in turn."""

Outcome = Sequence[Effect] | Exception
"""What became of one row a batch handler carried out: its follow-ups, or why it did not go."""

BatchHandler = Callable[[Sequence[dict[str, object]]], Sequence[Outcome]]
"""Carries out many queued effects of its kind at once (a burst's pages: one load, one write),
returning an outcome per payload, in order. An exception it raises fails the whole batch."""

delivery_attempt: ContextVar[int] = ContextVar("delivery_attempt", default=1)
"""Which try of its outbox row the running handler is (1: the first). A later try may follow
one that did its work and died before recording it, so a handler that cannot repeat its work
harmlessly looks for that work first."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Job:
    """A periodic job: first run right away, then every `every_seconds`.

    Only the replica that leads the scheduler runs it, a run never overlaps the previous one, and
    missed runs collapse into one (the jobs look at what is due, not at how often they ran).
    """

    id: str
    run: Callable[[], object]
    every_seconds: float
    next_in: Callable[[], float | None] | None = None
    """Seconds until the job next has work (a due time it keeps): after each run, the next run
    is brought forward to then when that is sooner than the interval."""


@dataclass(frozen=True)
class Part(Generic[S]):
    """One capability, built: its service and its needs from the running bot."""

    service: S
    outbox: Mapping[str, OutboxHandler] = field(default_factory=dict)
    batch_outbox: Mapping[str, BatchHandler] = field(default_factory=dict)
    """Kinds carried out a claimed batch at a time (every row of the kind in one call)."""
    slow_kinds: frozenset[str] = frozenset()
    """Outbox kinds paced by a slow peer: they get their own lane so quick kinds never wait."""
    bulk_kinds: frozenset[str] = frozenset()
    """Batch kinds whose handler only reads and writes the database (no peer call): the worker
    claims them by the thousand, not in the common batch (one call for a burst, not five)."""
    first_kinds: frozenset[str] = frozenset()
    """Kinds on the way to putting a page in front of a person: when more lanes are ready than
    the worker runs at once (a burst's receipts), theirs start first."""
    jobs: Sequence[Job] = ()
    routes: Mapping[str, WSGIApp] = field(default_factory=dict)
    """Extra HTTP paths on the bot's port (e.g. an inbound webhook)."""
    at_start: Sequence[Callable[[], None]] = ()
    """One-off checks run in the background once the bot is up (they only log)."""
    closers: Sequence[Callable[[], None]] = ()
