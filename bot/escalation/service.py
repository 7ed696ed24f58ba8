"""Escalation: start a climb when an item needs one, tick it along, and stop it on acknowledge.

The climb's timeline is the pure engine in `bot.oncall.policy`; this service stores it, lets a
scheduler tick hand out the steps that fell due (each claimed once in the database, so replicas
and restarts never double a page), and turns each step into outbox pages (`bot.escalation.paging`
sends them). Only the paged people, whoever is on call and leads may acknowledge.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot.config import Program
from bot.domain import Effect, EscalatingItem, ItemKind, ItemRef, StoredEscalation
from bot.escalation.items import Items
from bot.escalation.model import AckOutcome, EscalateOutcome, EscalationRecord, record_of, values_of
from bot.oncall import policy
from bot.oncall.policy import DueStep, EscalationState, Snapshot
from bot.oncall.program import EscalationPolicy
from bot.parts import Outcome
from bot.ports import Clock
from storage.escalations import Claim, EscalationRepository, Update

log = logging.getLogger(__name__)

START = "escalation.start"
PAGE = "escalation.page"
TICK_BATCH = 500
# What to queue when someone acknowledges or a lead re-escalates (messages to update, notes).
FollowUps = Callable[
    [EscalationRecord, str, dt.datetime], Sequence[Effect]
]  # escalations advanced per database round trip; a tick loops until done


def start_effect(kind: ItemKind, item_id: int | None = None) -> Effect:
    """Queue the start of an item's escalation (for new feedback, its id is filled in later)."""
    if kind is ItemKind.FEEDBACK:
        if item_id is None:
            return Effect(START, {"kind": kind.value}, START + ":feedback:{feedback_id}")
        return Effect(
            START, {"kind": kind.value, "feedback_id": item_id}, f"{START}:{kind}:{item_id}"
        )
    return Effect(START, {"kind": kind.value, "alert_id": item_id}, f"{START}:{kind}:{item_id}")


def timeline_id(ref: ItemRef, generation: int) -> str:
    """The engine's item id: one per climb, so a re-escalation's steps are claimed afresh."""
    return f"{ref.kind.value}-{ref.id}-g{generation}"


def page_effect(record: EscalationRecord, step: DueStep) -> Claim:
    """The claim and page of one due step."""
    key = step.key
    payload: dict[str, object] = {
        "escalation_id": record.id,
        "generation": record.generation,
        "step": step.kind.value,
        "group": step.group,
        "round": key.round,
        "step_index": key.step_index,
        "sla_breached": step.sla_breached,
    }
    slot = f"{key.round}:{key.step_index}"
    effect = Effect(PAGE, payload, f"{PAGE}:{key.claim_name}")
    return Claim(job=f"escalation:{key.item_id}", slot=slot, effects=[effect])


@dataclass(frozen=True)
class Change:
    """What a change does to an escalation: the new state, and what to queue and audit with it."""

    state: EscalationState
    effects: Sequence[Effect] = ()
    claims: Sequence[Claim] = ()
    audit: tuple[str, str, dict[str, Any]] | None = None  # actor, action, detail
    restart: bool = False  # a new generation: the pages of the old climb are forgotten


Decide = Callable[[EscalationRecord], Change | None]


class EscalationService:
    """Starts, advances, acknowledges and restarts escalations."""

    def __init__(
        self,
        *,
        program: Program,
        repo: EscalationRepository,
        items: Items,
        clock: Clock,
        on_call_ids: Callable[[], set[str]],
        on_enqueued: Callable[[], None] = lambda: None,
        acknowledged_effects: FollowUps = lambda record, user, at: (),
        reescalated_effects: FollowUps = lambda record, user, at: (),
    ) -> None:
        self._program = program
        self._repo = repo
        self._items = items
        self._clock = clock
        self._on_call_ids = on_call_ids  # Slack ids of whoever is on call now
        self._on_enqueued = on_enqueued
        self._acknowledged_effects = acknowledged_effects
        self._reescalated_effects = reescalated_effects

    @property
    def enabled(self) -> bool:
        """Tell whether the program escalates anything."""
        return self._program.escalation is not None

    def policy_for(self, severity: str) -> EscalationPolicy | None:
        """The policy items of this severity escalate by, if any."""
        escalation = self._program.escalation
        return escalation.policy_for(severity) if escalation else None

    def effects_for_new(
        self, kind: ItemKind, severity: str, item_id: int | None = None
    ) -> list[Effect]:
        """What to queue with a new item of this severity: the start of its escalation (new
        feedback has no id yet: the outbox fills it in)."""
        return [start_effect(kind, item_id)] if self.policy_for(severity) else []

    def get(self, ref: ItemRef) -> EscalationRecord | None:
        """The item's escalation, if any."""
        stored = self._repo.get(ref)
        return record_of(stored) if stored else None

    def by_id(self, escalation_id: int) -> EscalationRecord | None:
        """One escalation by its id."""
        stored = self._repo.by_id(escalation_id)
        return record_of(stored) if stored else None

    @staticmethod
    def _updater(decide: Decide, now: dt.datetime) -> Callable[[StoredEscalation], Update | None]:
        """`decide` as the repository asks it: stored row in, what to store (rules applied) out."""

        def update(stored: StoredEscalation) -> Update | None:
            before = record_of(stored)
            change = decide(before)
            if change is None:
                return None
            return Update(
                values_of(change.state, now),
                effects=change.effects,
                claims=change.claims,
                audit=change.audit,
                restart=change.restart,
                breach=change.state.breach_taken and not before.state.breach_taken,
            )

        return update

    def by_ids(self, escalation_ids: Collection[int]) -> dict[int, EscalationRecord]:
        """Many escalations by id, in one query."""
        return {i: record_of(s) for i, s in self._repo.by_ids(escalation_ids).items()}

    def items(self, refs: Collection[ItemRef]) -> dict[ItemRef, EscalatingItem]:
        """Many escalating items, a query per kind."""
        return self._items.get_many(refs)

    def _change(
        self, escalation_id: int, now: dt.datetime, decide: Decide, *, skip_locked: bool = False
    ) -> tuple[Update, int] | None:
        """Let `decide` change the escalation under its row lock; store what the rules computed."""
        update = self._updater(decide, now)
        return self._repo.change(escalation_id, now, update, skip_locked=skip_locked)

    def item(self, ref: ItemRef) -> EscalatingItem | None:
        """The escalating item itself."""
        return self._items.get(ref)

    # -- starting ----------------------------------------------------------------------------

    def start(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Outbox handler: store the item's escalation, then hand out what is due already
        (see `start_many`)."""
        [outcome] = self.start_many([payload])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def start_many(self, payloads: Sequence[dict[str, object]]) -> list[Outcome]:
        """Outbox handler for a batch of starts (a burst of sev1 reports): one read of their
        items, their escalations stored, then every step due already handed out by the tick's
        set-based claim rather than one escalation at a time.

        The clocks start when the item was filed or fired, not when this runs: a start that
        waited out an outage fires the steps it missed at once.
        """
        refs: list[ItemRef | None] = []
        for payload in payloads:
            kind = payload.get("kind")
            raw_id = payload.get("feedback_id" if kind == ItemKind.FEEDBACK.value else "alert_id")
            known = kind in {k.value for k in ItemKind} and isinstance(raw_id, int)
            refs.append(ItemRef(ItemKind(str(kind)), cast(int, raw_id)) if known else None)
        items = self._items.get_many({ref for ref in refs if ref is not None})
        now = self._clock()
        outcomes: list[Outcome] = []
        started = 0
        for ref in refs:
            try:
                if ref is not None and self._store(ref, items.get(ref), now) is not None:
                    started += 1
                outcomes.append([])
            except Exception as exc:  # this start alone (its row is retried)
                outcomes.append(exc)
        if started:
            self._hand_out_due(now)
        return outcomes

    def _store(self, ref: ItemRef, item: EscalatingItem | None, now: dt.datetime) -> int | None:
        """Store the item's escalation if it needs one and has none yet; return its id."""
        escalation_policy = self.policy_for(item.severity) if item else None
        if item is None or escalation_policy is None or item.resolved_at is not None:
            return None
        snapshot = Snapshot.take(escalation_policy, now)
        state = policy.start(timeline_id(ref, 1), snapshot, min(item.started_at, now))
        escalation_id = self._repo.start(ref, item.severity, values_of(state, now), now)
        if escalation_id is not None:
            log.info("escalation of %s started (%s policy)", ref, item.severity)
        return escalation_id

    def _start(self, ref: ItemRef) -> None:
        """Store the item's escalation if it needs one and has none yet; hand out what is due."""
        now = self._clock()
        escalation_id = self._store(ref, self._items.get(ref), now)
        if escalation_id is not None:
            self._advance(escalation_id, now)

    # -- the scheduler tick ------------------------------------------------------------------

    def tick(self) -> int:
        """Stop climbs whose item is over, then hand out every step that fell due; return pages."""
        now = self._clock()
        for escalation_id, resolved_at in self._repo.finished_items():
            self._change(escalation_id, now, self._resolver(resolved_at or now))
        return self._hand_out_due(now)

    def _hand_out_due(self, now: dt.datetime) -> int:
        """Hand out every step due at `now`, each claimed once; return the pages queued."""
        queued = 0
        step = self._updater(self._stepper(now), now)
        while True:
            # A burst's thousand due steps take a handful of statements per batch, not six each.
            advanced = self._repo.advance_due(now, TICK_BATCH, step)
            queued += advanced.won
            if advanced.examined < TICK_BATCH or advanced.changed == 0:
                break
        if queued:
            self._on_enqueued()
        return queued

    def next_tick_in(self) -> float | None:
        """Seconds until the next step falls due, if one is ahead (the tick can wake for it)."""
        due = self._repo.next_due()
        if due is None:
            return None
        if due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        return (due - self._clock()).total_seconds()

    @staticmethod
    def _resolver(at: dt.datetime) -> Decide:
        def decide(record: EscalationRecord) -> Change | None:
            if record.state.resolved_at is not None:
                return None
            return Change(policy.resolve(record.state, at))

        return decide

    @staticmethod
    def _stepper(now: dt.datetime) -> Decide:
        """Move a climb to `now`: the steps that fell due, each to be claimed once."""

        def decide(record: EscalationRecord) -> Change | None:
            moved = policy.tick(record.state, now)
            if not moved.steps and moved.state == record.state:
                return None
            return Change(moved.state, claims=[page_effect(record, s) for s in moved.steps])

        return decide

    def _advance(self, escalation_id: int, now: dt.datetime) -> int:
        """Hand out one escalation's due steps; a row another replica holds is left to it."""
        result = self._change(escalation_id, now, self._stepper(now), skip_locked=True)
        won = result[1] if result else 0
        if won:
            self._on_enqueued()
        return won

    def skip(self, escalation_id: int, generation: int, round_: int, step_index: int) -> None:
        """A step reached nobody: pull the next one forward to now, and hand it out."""
        now = self._clock()

        def decide(record: EscalationRecord) -> Change | None:
            if record.generation != generation:
                return None
            key = policy.StepKey(record.state.item_id, step_index, round_)
            state = policy.skip_to_next(record.state, key, now)
            return None if state == record.state else Change(state)

        if self._change(escalation_id, now, decide) is not None:
            self._advance(escalation_id, now)

    # -- people ------------------------------------------------------------------------------

    def may_acknowledge(self, record: EscalationRecord, user: str) -> bool:
        """Only the paged people, whoever is on call now, and leads may acknowledge."""
        return user in record.paged or self._program.is_lead(user) or user in self._on_call_ids()

    def acknowledge(self, ref: ItemRef, user: str) -> AckOutcome:
        """Stop the item's climb at once and record who acknowledged it."""
        record = self.get(ref)
        if record is None:
            # Pressed before the queued start ran (the receipt can be quicker): start it now.
            self._start(ref)
            record = self.get(ref)
        if record is None:
            return AckOutcome.NOT_ESCALATING
        if not self.may_acknowledge(record, user):
            return AckOutcome.NOT_ALLOWED
        now = self._clock()

        def decide(current: EscalationRecord) -> Change | None:
            state = policy.acknowledge(current.state, user, now)
            if state == current.state:
                return None
            audit = (user, "acknowledged", {"escalation": current.id})
            return Change(
                state, effects=self._acknowledged_effects(current, user, now), audit=audit
            )

        if self._change(record.id, now, decide) is None:
            return AckOutcome.ALREADY
        log.info("%s acknowledged by %s", ref, user)
        self._on_enqueued()
        return AckOutcome.ACKNOWLEDGED

    def reescalate(self, ref: ItemRef, user: str) -> EscalateOutcome:
        """A lead restarts the climb from its first step (re-opening a resolved item)."""
        if not self._program.is_lead(user):
            return EscalateOutcome.NOT_ALLOWED
        item = self._items.get(ref)
        if item is None:
            return EscalateOutcome.UNKNOWN_ITEM
        escalation_policy = self.policy_for(item.severity)
        if escalation_policy is None:
            return EscalateOutcome.NO_POLICY
        now = self._clock()
        snapshot = Snapshot.take(escalation_policy, now)
        record = self.get(ref)
        if record is None:
            state = policy.start(timeline_id(ref, 1), snapshot, now)
            escalation_id = self._repo.start(ref, item.severity, values_of(state, now), now)
        else:
            escalation_id = record.id

            def decide(current: EscalationRecord) -> Change:
                generation = current.generation + 1
                fresh = policy.start(timeline_id(ref, generation), snapshot, now)
                audit = (user, "reescalated", {"generation": generation})
                restarted = EscalationRecord(
                    current.id, ref, generation, current.severity, fresh, (), (), current.breaches
                )
                effects = self._reescalated_effects(restarted, user, now)
                return Change(fresh, effects=effects, restart=True, audit=audit)

            self._change(record.id, now, decide)
        log.info("%s re-escalated by %s", ref, user)
        if escalation_id is not None:
            self._advance(escalation_id, now)
        return EscalateOutcome.STARTED

    def group_items(self, group_id: int) -> list[ItemRef]:
        """The items on a person's grouped page DM, in the order it shows them."""
        group = self._repo.group(group_id)
        refs: list[ItemRef] = []
        for entry in group.entries if group else ():
            record = self.by_id(entry.escalation_id)
            if record is not None and record.item not in refs:
                refs.append(record.item)
        return refs

    def state(self, ref: ItemRef) -> EscalationState | None:
        """The item's escalation timeline, if it has one."""
        record = self.get(ref)
        return record.state if record else None
