"""The escalation timeline of one item: pure, serialisable, and driven by stored due times.

A climb walks the snapshot's steps round by round: `wait` steps only push the due time on,
every other step is a notification, due at its time. The state keeps a cursor on the next
notification and its due time (store `next_due` in the database; a scheduler tick picks the
items whose time has come). Every step handed out carries a key `(item_id, step_index, round)`
the caller claims in the database before sending, so two replicas or a re-run never send it
twice. The walk runs from the stored due times, not from when ticks happen, so a bot that was
down hands out each missed step once when it comes back.

Acknowledging stops the climb at once; resolving stops everything. Past the resolve-by clock
without resolution, one more round goes out, flagged as an SLA breach — acknowledged or not,
because an acknowledged item can still sit unresolved.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from bot.oncall.program import EscalationPolicy, StepKind

UTC = dt.UTC


def _utc(value: dt.datetime, name: str = "now") -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Snapshot(_Frozen):
    """A frozen copy of a policy, taken when an item starts escalating.

    Climbs in flight follow their snapshot, so editing the program file changes only the items
    that start escalating afterwards.
    """

    policy: EscalationPolicy
    taken_at: dt.datetime

    @classmethod
    def take(cls, policy: EscalationPolicy, now: dt.datetime) -> Snapshot:
        """Copy the policy as it is now (deeply: nothing shared with the live program)."""
        return cls(policy=policy.model_copy(deep=True), taken_at=_utc(now))


class Cursor(_Frozen):
    """The next notification of the climb and when it is due."""

    round: int
    step_index: int
    due_at: dt.datetime


class EscalationState(_Frozen):
    """Where one item's escalation stands; store it whole (it is JSON-serialisable)."""

    item_id: str
    snapshot: Snapshot
    started_at: dt.datetime
    cursor: Cursor | None  # None: every round of the climb has been handed out
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    breach_taken: bool = False  # the SLA-breach round has been handed out

    @property
    def climbing(self) -> bool:
        """Tell whether steps of the climb may still fall due."""
        return self.cursor is not None and self.acknowledged_at is None and self.resolved_at is None


def stored_state(data: Mapping[str, Any]) -> EscalationState:
    """An escalation's state as stored (JSON), read back and checked.

    Every item that starts escalating under one policy carries the same snapshot, and a burst
    reads a thousand of them at once: each distinct snapshot is checked once and the frozen
    result shared, rather than the whole policy validated again for every item.
    """
    snapshot = data.get("snapshot")
    if isinstance(snapshot, Mapping):
        key = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
        data = {**data, "snapshot": _snapshot(key)}
    return EscalationState.model_validate(data)


@lru_cache(maxsize=64)
def _snapshot(stored: str) -> Snapshot:
    return Snapshot.model_validate(json.loads(stored))


class StepKey(NamedTuple):
    """What the caller claims (unique) in the database before sending a step."""

    item_id: str
    step_index: int
    round: int

    @property
    def claim_name(self) -> str:
        """The key as one string, for a `job_run(job_name, …) UNIQUE` style claim row."""
        return f"escalation:{self.item_id}:{self.round}:{self.step_index}"


@dataclass(frozen=True)
class DueStep:
    """A notification to send now; the caller resolves its targets."""

    key: StepKey
    kind: StepKind
    group: str | None  # the user group of notify_group
    due_at: dt.datetime
    sla_breached: bool = False


class SlaStatus(NamedTuple):
    """The item's SLA clocks; a clock is breached when it ran out before the thing happened."""

    ack_due: dt.datetime
    resolve_due: dt.datetime
    ack_breached: bool
    resolve_breached: bool


class Tick(NamedTuple):
    """What one scheduler tick hands out, and the state to store afterwards."""

    state: EscalationState
    steps: list[DueStep]


def _notifications(
    policy: EscalationPolicy, round_: int, index: int, due: dt.datetime
) -> Iterator[Cursor]:
    """Walk from a position to the end of the last round, yielding each notification."""
    body = policy.body
    while round_ < policy.rounds:
        step = body[index]
        if step.kind is StepKind.WAIT:
            due += dt.timedelta(seconds=step.duration or 0)
        else:
            yield Cursor(round=round_, step_index=index, due_at=due)
        index += 1
        if index == len(body):
            round_, index = round_ + 1, 0


def _due_step(state: EscalationState, cursor: Cursor, sla_breached: bool = False) -> DueStep:
    step = state.snapshot.policy.body[cursor.step_index]
    return DueStep(
        key=StepKey(state.item_id, cursor.step_index, cursor.round),
        kind=step.kind,
        group=step.group,
        due_at=cursor.due_at,
        sla_breached=sla_breached,
    )


def _position(cursor: Cursor) -> tuple[int, int]:
    return cursor.round, cursor.step_index


def _resolve_due(state: EscalationState) -> dt.datetime:
    return state.started_at + dt.timedelta(seconds=state.snapshot.policy.resolve_within)


def _from_cursor(state: EscalationState) -> Iterator[Cursor]:
    if state.cursor is None:
        return iter(())
    cursor = state.cursor
    return _notifications(state.snapshot.policy, cursor.round, cursor.step_index, cursor.due_at)


def start(item_id: str, snapshot: Snapshot, now: dt.datetime) -> EscalationState:
    """Start escalating an item: the SLA clocks and the climb start now."""
    now = _utc(now)
    first = next(_notifications(snapshot.policy, 0, 0, now))  # a policy always notifies
    return EscalationState(item_id=item_id, snapshot=snapshot, started_at=now, cursor=first)


def due_steps(state: EscalationState, now: dt.datetime) -> list[DueStep]:
    """The climb's steps due at or before `now` not yet handed out; none once acknowledged."""
    now = _utc(now)
    if not state.climbing:
        return []
    steps = []
    for cursor in _from_cursor(state):
        if cursor.due_at > now:
            break
        steps.append(_due_step(state, cursor))
    return steps


def breach_steps(state: EscalationState, now: dt.datetime) -> list[DueStep]:
    """Past resolve-by and unresolved: one round of every notification, flagged, once.

    The round goes out all at once (no waits): the resolve-by clock has already run out, so
    making the leads wait again would only deepen the breach. Its round number is one past the
    climb's last, so its keys never collide with the climb's.
    """
    now = _utc(now)
    due = _resolve_due(state)
    if state.resolved_at is not None or state.breach_taken or now < due:
        return []
    policy = state.snapshot.policy
    return [
        _due_step(state, Cursor(round=policy.rounds, step_index=index, due_at=due), True)
        for index, step in enumerate(policy.body)
        if step.kind.notifies
    ]


def advance(state: EscalationState, now: dt.datetime) -> EscalationState:
    """Mark everything `due_steps` and `breach_steps` return for `now` as handed out."""
    now = _utc(now)
    update: dict[str, object] = {}
    if breach_steps(state, now):
        update["breach_taken"] = True
    if state.climbing:
        update["cursor"] = next((c for c in _from_cursor(state) if c.due_at > now), None)
    return state.model_copy(update=update)


def tick(state: EscalationState, now: dt.datetime) -> Tick:
    """Hand out what is due (climb, then breach round) and move the state past it."""
    return Tick(advance(state, now), due_steps(state, now) + breach_steps(state, now))


def acknowledge(state: EscalationState, by: str, at: dt.datetime) -> EscalationState:
    """Stop the climb: from now on no climb step is handed out, even one already due.

    The first acknowledgement counts; later ones, and any after resolution, change nothing.
    """
    at = _utc(at, "at")
    if state.acknowledged_at is not None or state.resolved_at is not None:
        return state
    return state.model_copy(update={"acknowledged_at": at, "acknowledged_by": by})


def resolve(state: EscalationState, at: dt.datetime) -> EscalationState:
    """Stop everything: no climb step and no breach round from now on."""
    at = _utc(at, "at")
    if state.resolved_at is not None:
        return state
    return state.model_copy(update={"resolved_at": at})


def skip_to_next(state: EscalationState, step_key: StepKey, now: dt.datetime) -> EscalationState:
    """A handed-out step had no one to reach: make the next notification due now.

    The waits in between are skipped (nobody was paged, so there is nothing to wait for); later
    waits count from now. Call it after the step was handed out (after `advance`/`tick`).
    """
    now = _utc(now)
    if step_key.item_id != state.item_id:
        raise ValueError(f"step {step_key} is not of item {state.item_id!r}")
    cursor = state.cursor
    if not state.climbing or cursor is None or step_key.round >= state.snapshot.policy.rounds:
        return state  # nothing left to pull forward (a breach round goes out whole anyway)
    if (step_key.round, step_key.step_index) >= _position(cursor):
        raise ValueError(f"step {step_key} has not been handed out yet: advance the state first")
    policy = state.snapshot.policy
    round_, index = step_key.round, step_key.step_index + 1
    if index == len(policy.body):
        round_, index = round_ + 1, 0
    following = next(_notifications(policy, round_, index, now), None)
    if following is None or _position(following) != _position(cursor):
        return state  # the next notification went out already, in the same batch
    return state.model_copy(
        update={"cursor": cursor.model_copy(update={"due_at": min(cursor.due_at, now)})}
    )


def sla(state: EscalationState, now: dt.datetime) -> SlaStatus:
    """The SLA clocks; resolving also stops the acknowledge clock."""
    now = _utc(now)
    ack_due = state.started_at + dt.timedelta(seconds=state.snapshot.policy.ack_within)
    resolve_due = _resolve_due(state)
    handled = [t for t in (state.acknowledged_at, state.resolved_at) if t is not None]
    acked = min(handled, default=now)
    resolved = state.resolved_at or now
    return SlaStatus(ack_due, resolve_due, acked >= ack_due, resolved >= resolve_due)


def next_due(state: EscalationState) -> dt.datetime | None:
    """When the scheduler should next look at this item, or None when it never needs to."""
    moments = []
    if state.climbing and state.cursor is not None:
        moments.append(state.cursor.due_at)
    if state.resolved_at is None and not state.breach_taken:
        moments.append(_resolve_due(state))
    return min(moments, default=None)
