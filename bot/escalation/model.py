"""What escalation speaks of: the items that escalate, the pages sent for them, and outcomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import EscalationValues, ItemRef, PageMessage, StoredEscalation
from bot.oncall.policy import EscalationState, next_due, sla, stored_state


@dataclass(frozen=True)
class EscalationRecord:
    """A stored escalation: its timeline state and who was paged."""

    id: int
    item: ItemRef
    generation: int
    severity: str
    state: EscalationState
    paged: tuple[str, ...]
    pages: tuple[PageMessage, ...]
    breaches: int


def record_of(stored: StoredEscalation) -> EscalationRecord:
    """Read a stored escalation's state back into the timeline the rules work on."""
    return EscalationRecord(
        id=stored.id,
        item=stored.item,
        generation=stored.generation,
        severity=stored.severity,
        state=stored_state(stored.state),
        paged=stored.paged,
        pages=stored.pages,
        breaches=stored.breaches,
    )


def values_of(state: EscalationState, now: dt.datetime) -> EscalationValues:
    """The state to store, with the due time and SLA clocks the rules compute from it at `now`."""
    clocks = sla(state, now)
    return EscalationValues(
        state=state.model_dump(mode="json"),
        started_at=state.started_at,
        next_due=next_due(state),
        ack_due=clocks.ack_due,
        resolve_due=clocks.resolve_due,
        acknowledged_at=state.acknowledged_at,
        acknowledged_by=state.acknowledged_by,
        resolved_at=state.resolved_at,
    )


class AckOutcome(StrEnum):
    """What pressing Acknowledge did."""

    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"  # someone acknowledged first (or it is resolved)
    NOT_ALLOWED = "not_allowed"  # only the paged people, the on-call and leads may
    NOT_ESCALATING = "not_escalating"  # no escalation for this item


class EscalateOutcome(StrEnum):
    """What a lead's re-escalation did."""

    STARTED = "started"
    NOT_ALLOWED = "not_allowed"
    NO_POLICY = "no_policy"
    UNKNOWN_ITEM = "unknown_item"
