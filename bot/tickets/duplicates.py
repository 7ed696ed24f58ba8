"""Duplicate tickets: which of several issues for one item stays the ticket, and what is said.

Jira's create cannot be made idempotent. A create that Jira runs but answers late (or whose
transaction commits late, or whose issue reaches the search index late) is invisible to the
label search made before the next try, so that try opens a second issue; the first appears
afterwards. The bot then heals: one issue stays the ticket, the others are linked to it as
duplicates, commented and closed, never deleted.

Which one stays must come out the same on every replica, at every run, whichever issue the bot
happened to record first, so it is a rule of the issues alone: the oldest. Jira stamps
`created` and takes the key's number when it runs the create, before the issue can be seen, so
a late-appearing issue keeps an earlier `created` and a lower number than the one that overtook
it. `created` comes first because numbers only compare within one project (the program's
project may have changed); the number breaks ties within Jira's millisecond, and the key text
settles anything left.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import Ticket

_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-(\d+)$")
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


def age_order(ticket: Ticket) -> tuple[dt.datetime, int, str]:
    """Sort key putting the oldest issue first: created, then key number, then key."""
    match = _KEY.match(ticket.key)
    number = int(match.group(2)) if match else 2**63
    return (ticket.created or _NEVER, number, ticket.key)


@dataclass(frozen=True)
class Duplicates:
    """The issue that stays the ticket and the younger ones to close."""

    keeper: Ticket
    others: tuple[Ticket, ...]


def split_duplicates(tickets: Sequence[Ticket]) -> Duplicates | None:
    """Pick the keeper among issues sharing one idempotency label; None when there is one."""
    unique = {t.key: t for t in tickets}
    if len(unique) < 2:
        return None
    first, *rest = sorted(unique.values(), key=age_order)
    return Duplicates(first, tuple(rest))


def duplicate_comment(keeper: str, name: str) -> str:
    """The comment left on a duplicate (the same text each time: it is added only once)."""
    return (
        f"Hypercare Bot: this issue duplicates {keeper}. Jira opened two issues for {name} "
        f"(a create it answered too late to be seen was tried again). {keeper} stays the "
        "ticket; please follow up there."
    )


def note_detail(duplicate: str, keeper: str, closed: bool) -> str:
    """Encode a duplicate note's facts in a thread note's detail."""
    return f"{duplicate} {keeper} {'closed' if closed else 'open'}"


def read_note_detail(detail: str) -> tuple[str, str, bool]:
    """(duplicate key, keeper key, closed) back from `note_detail`."""
    duplicate, keeper, state = [*detail.split(), "", "", ""][:3]
    return duplicate, keeper, state == "closed"
