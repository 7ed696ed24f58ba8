"""Who is on call, for people asking in Slack (the escalation climb builds on the same rotas)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Program
from bot.oncall.rota import Handoff, next_handoffs, who_is_on_call
from bot.ports import Clock


@dataclass(frozen=True)
class OnCallView:
    """Who is on call now and the next hand-offs, per rota."""

    primary: str | None
    secondary: str | None
    primary_next: Handoff | None
    secondary_next: Handoff | None


class OnCallService:
    """Answers "who is on call?" from the program's rotas."""

    def __init__(self, *, program: Program, clock: Clock) -> None:
        self._program = program
        self._clock = clock

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
