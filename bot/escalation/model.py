"""What escalation speaks of: the items that escalate, the pages sent for them, and outcomes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from bot.oncall.policy import EscalationState


class ItemKind(StrEnum):
    """What escalates: filed feedback, or a gateway alert."""

    FEEDBACK = "feedback"
    ALERT = "alert"


_REF = re.compile(r"^(feedback|alert):(\d{1,12})$")


@dataclass(frozen=True)
class ItemRef:
    """One escalating item; spelled `feedback:12` or `alert:5` in button values and payloads."""

    kind: ItemKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, value: object) -> ItemRef | None:
        """Read `feedback:12` / `alert:5`; None for anything else (a forged button value)."""
        match = _REF.match(value) if isinstance(value, str) else None
        return cls(ItemKind(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class EscalatingItem:
    """What a page needs to know about an item: where it lives and whether it is over."""

    ref: ItemRef
    severity: str
    title: str
    channel_id: str
    thread_ts: str | None  # the receipt or alert message; None until it is posted
    link: str | None
    started_at: dt.datetime
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class PageMessage:
    """A page DM as sent, so it can be updated when someone acknowledges."""

    user: str
    channel: str
    ts: str


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


@dataclass(frozen=True)
class Page:
    """One page to one person (or the thread): what they are asked to look at, and why."""

    item: EscalatingItem
    severity_label: str
    role: str  # "primary on-call", "secondary on-call", "lead", …
    round: int  # 0-based round of the climb
    rounds: int
    sla_breached: bool
    escalating_since: dt.datetime
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None


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
