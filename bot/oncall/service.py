"""Who is on call, for people asking in Slack (the escalation climb builds on the same rotas)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.config import Program
from bot.domain import Effect
from bot.oncall.rota import Handoff, next_handoffs, who_is_on_call
from bot.ports import Clock
from storage.jobs import JobRuns


@dataclass(frozen=True)
class OnCallView:
    """Who is on call now and the next hand-offs, per rota."""

    primary: str | None
    secondary: str | None
    primary_next: Handoff | None
    secondary_next: Handoff | None


HANDOFF = "oncall.handoff"


class HandoffNotifier(Protocol):
    """Tells the team the person on call changed."""

    def handoff_notice(self, channel_id: str, handoff: Mapping[str, object]) -> None:
        """Post who hands over to whom."""
        ...


HANDOFF_GRACE = dt.timedelta(hours=1)  # a notice missed while the bot was down, posted late
LATE_AFTER = dt.timedelta(minutes=5)


class OnCallService:
    """Answers "who is on call?" and announces each hand-off once."""

    def __init__(
        self,
        *,
        program: Program,
        clock: Clock,
        jobs: JobRuns | None = None,
        notifier: HandoffNotifier | None = None,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._program = program
        self._clock = clock
        self._jobs = jobs
        self._notifier = notifier
        self._on_enqueued = on_enqueued

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {HANDOFF: self._post_handoff}

    def _post_handoff(self, payload: dict[str, object]) -> Sequence[Effect]:
        if self._notifier is not None:
            channel = self._program.channels.team or self._program.channels.feedback
            self._notifier.handoff_notice(channel, payload)
        return []

    def announce_handoffs(self) -> int:
        """Queue a notice for every hand-off of the last hour not announced yet; return how many.

        Each (rota, instant) is claimed once in the database, so replicas and restarts never
        post a hand-off twice, and one missed while the bot was down is posted once, marked late.
        """
        oncall = self._program.oncall
        if oncall is None or self._jobs is None:
            return 0
        now, zone = self._clock(), self._program.zone
        queued = 0
        for rota in oncall.rotas:
            for handoff in next_handoffs(rota, zone, now - HANDOFF_GRACE, 24):
                if handoff.at > now:
                    break
                payload: dict[str, object] = {
                    "rota": rota.id,
                    "at": handoff.at.isoformat(),
                    "outgoing": handoff.outgoing,
                    "incoming": handoff.incoming,
                    "late": now - handoff.at > LATE_AFTER,
                }
                key = f"{HANDOFF}:{rota.id}:{handoff.at.isoformat()}"
                effect = Effect(HANDOFF, payload, key)
                if self._jobs.claim(f"handoff:{rota.id}", handoff.at.isoformat(), now, [effect]):
                    queued += 1
        if queued:
            self._on_enqueued()
        return queued

    @property
    def enabled(self) -> bool:
        """Tell whether the program has rotas."""
        return self._program.oncall is not None

    def now(self) -> OnCallView | None:
        """Who is on call now, and who comes next on each rota."""
        oncall = self._program.oncall
        if oncall is None:
            return None
        now, zone = self._clock(), self._program.zone
        current = who_is_on_call(oncall, zone, now)
        primary_next = next_handoffs(oncall.rota(oncall.primary), zone, now, 1)
        secondary_next = (
            next_handoffs(oncall.rota(oncall.secondary), zone, now, 1) if oncall.secondary else []
        )
        return OnCallView(
            current.primary,
            current.secondary,
            primary_next[0] if primary_next else None,
            secondary_next[0] if secondary_next else None,
        )
