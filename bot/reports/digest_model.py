"""What a stand-up digest says, in domain terms: sections of lines, counted and cut to size."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemLine:
    """One item in a section: its id, words, where it lives, and what to say about it."""

    ref: str  # HC-12, or the alert's rule
    summary: str  # user text: the renderer escapes it
    severity: str
    link: str | None  # the Slack thread
    ticket_key: str | None = None
    ticket_url: str | None = None
    detail: str = ""  # "open 3 d 4 h · resolve-by passed 2 h ago"
    flag: str = ""  # "breach" / "late" / "" — drives ordering and emphasis


@dataclass(frozen=True)
class Section:
    """A part of the digest: its lines (top N), how many there were, and a one-line summary."""

    title: str
    lines: tuple[ItemLine, ...]
    total: int
    summary: str = ""  # "3 new: sev1 1 · sev2 2"; the renderer says "none" when total is 0
    empty: str = "Nothing."

    @property
    def more(self) -> int:
        """How many were left out of `lines`."""
        return max(0, self.total - len(self.lines))


@dataclass(frozen=True)
class Digest:
    """A stand-up digest for one period (from the previous digest's time to this one's)."""

    title: str
    since: dt.datetime
    until: dt.datetime
    zone: str
    late: bool
    sections: tuple[Section, ...]
    on_call: str = ""
    full_lists: dict[str, tuple[ItemLine, ...]] = field(default_factory=dict)
