"""Who is on call, for people asking in Slack (the escalation climb builds on the same rotas)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Program
from bot.domain import Effect
from bot.oncall.overrides import OverrideRequest
from bot.oncall.program import OnCallProgram, Override
from bot.oncall.rota import Handoff, OnCallNow, next_handoffs, who_is_on_call
from bot.ports import Clock, HandoffNotifier
from storage.jobs import JobRuns
from storage.oncall import OverrideRepository, StoredOverride


@dataclass(frozen=True)
class OnCallView:
    """Who is on call now and the next hand-offs, per rota."""

    primary: str | None
    secondary: str | None
    primary_next: Handoff | None
    secondary_next: Handoff | None


HANDOFF = "oncall.handoff"


class OverrideOutcome(StrEnum):
    """What an admin's override did."""

    ADDED = "added"
    NOT_ALLOWED = "not_allowed"
    NO_ROTAS = "no_rotas"


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
        overrides: OverrideRepository | None = None,
        user_for_email: Callable[[str], str | None] = lambda email: None,
    ) -> None:
        self._program = program
        self._clock = clock
        self._jobs = jobs
        self._notifier = notifier
        self._on_enqueued = on_enqueued
        self._overrides = overrides
        self._user_for_email = user_for_email

    def current_time(self) -> dt.datetime:
        """The service's clock (commands read times relative to it)."""
        return self._clock()

    def rotas(self, now: dt.datetime) -> OnCallProgram | None:
        """The program's rotas with the overrides admins added from Slack appended.

        An override listed later wins (see `on_call`), so the newest one from Slack prevails.
        """
        oncall = self._program.oncall
        if oncall is None or self._overrides is None:
            return oncall
        added: dict[str, list[Override]] = {}
        for stored in self._overrides.ending_after(now - dt.timedelta(days=1)):
            override = Override.model_validate(
                {"from": stored.starts_at, "to": stored.ends_at, "who": stored.who}
            )
            added.setdefault(stored.rota, []).append(override)
        if not added:
            return oncall
        rotas = tuple(
            rota.model_copy(update={"overrides": (*rota.overrides, *added.get(rota.id, ()))})
            for rota in oncall.rotas
        )
        return oncall.model_copy(update={"rotas": rotas})

    def on_call_now(self) -> OnCallNow | None:
        """Who is on call on the primary and secondary rota right now."""
        now = self._clock()
        oncall = self.rotas(now)
        return who_is_on_call(oncall, self._program.zone, now) if oncall else None

    def on_call_ids(self) -> set[str]:
        """The Slack ids of whoever is on call now (e-mails looked up)."""
        current = self.on_call_now()
        people = [p for p in (current or ()) if p is not None]
        ids = {p if "@" not in p else self._user_for_email(p) for p in people}
        return {i for i in ids if i}

    def add_override(self, request: OverrideRequest, by: str) -> OverrideOutcome:
        """An admin puts someone on call until a time; audited, and announced at the hand-off."""
        if self._program.oncall is None or self._overrides is None:
            return OverrideOutcome.NO_ROTAS
        if by not in self._program.roles.admins:
            return OverrideOutcome.NOT_ALLOWED
        now = self._clock()
        stored = StoredOverride(request.rota, request.who, now, request.until, by)
        self._overrides.add(stored, now)
        self.announce_handoffs()
        return OverrideOutcome.ADDED

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
        now, zone = self._clock(), self._program.zone
        oncall = self.rotas(now)
        if oncall is None or self._jobs is None:
            return 0
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
        now, zone = self._clock(), self._program.zone
        oncall = self.rotas(now)
        if oncall is None:
            return None
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
