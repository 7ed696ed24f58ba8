"""When digests are due: scheduled instants in the program's zone, on virtual time only.

A schedule is a local time on some weekdays. Each scheduled local date gives exactly one
instant, through `local_instant` (the one place daylight-saving time is handled: a time in a
spring-forward gap runs at the first valid instant after it, a time that happens twice on a
fall-back day runs at the first of the two). A slot is keyed by that local date, so a digest job
that claims `(job, slot.key)` before posting posts once per scheduled day, whatever the clocks
do and however many replicas race for it.

A bot that was down does not post every digest it missed: `due_slot` offers only the most
recent one, and only within the grace period; anything older is covered by the next digest,
whose period starts at the previous *scheduled* slot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from bot.oncall.rota import local_instant

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)
LATE_AFTER = dt.timedelta(minutes=5)  # a scheduler tick or a restart is not "late"
# Any schedule has a slot every week; a week and a day also absorbs a DST change or a zone
# skipping a whole date (Pacific/Apia, 2011). Two weeks is a comfortable bound on searches.
_SEARCH = dt.timedelta(days=14)


class Schedule(Protocol):
    """A digest schedule: `DailyDigest` and `WeeklyReview` of the program both are one."""

    @property
    def at(self) -> dt.time:
        """The local time it runs at."""
        ...

    @property
    def weekdays(self) -> frozenset[int]:
        """The local weekdays it runs on (Monday is 0)."""
        ...

    @property
    def enabled(self) -> bool:
        """Whether it runs at all."""
        ...


class Slot(NamedTuple):
    """One scheduled run: its local date (the claim key) and the instant it is due."""

    local_date: dt.date
    at_utc: dt.datetime

    @property
    def key(self) -> str:
        """The claim key: the local date, like `2026-03-29`, one per scheduled day."""
        return self.local_date.isoformat()


class DueSlot(NamedTuple):
    """A slot to post now; `late` when it is more than a few minutes past its time."""

    slot: Slot
    late: bool

    @property
    def key(self) -> str:
        """The slot's claim key."""
        return self.slot.key


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _walk(schedule: Schedule, zone: ZoneInfo, first: dt.date, last: dt.date) -> Iterator[Slot]:
    """Every slot on the local dates from `first` to `last`, in order of time.

    Local instants grow with the date, so walking the dates meets the slots in order. The one
    exception is a zone skipping a whole date (Pacific/Apia, 2011-12-30): that date's time
    falls on the next date's, and the next date, whose wall time really exists, keeps it.
    """
    if not schedule.weekdays:
        raise ValueError("a schedule needs at least one weekday")
    day = first
    while day <= last:
        if day.weekday() in schedule.weekdays:
            at = local_instant(day, schedule.at, zone)
            following = day + ONE_DAY
            swallowed = (
                at.astimezone(zone).date() != day
                and following.weekday() in schedule.weekdays
                and at >= local_instant(following, schedule.at, zone)
            )
            if not swallowed:
                yield Slot(day, at)
        day += ONE_DAY


def _dates_around(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> tuple[dt.date, dt.date]:
    # A day of margin each side is cheap insurance where a zone's clocks jump across midnight.
    return start.astimezone(zone).date() - ONE_DAY, end.astimezone(zone).date() + ONE_DAY


def slots(schedule: Schedule, zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[Slot]:
    """Every scheduled slot due in (`start`, `end`], oldest first; whether enabled or not."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return []
    first, last = _dates_around(start, end, zone)
    return [slot for slot in _walk(schedule, zone, first, last) if start < slot.at_utc <= end]


def next_slot(schedule: Schedule, zone: ZoneInfo, after: dt.datetime) -> Slot:
    """The first slot due strictly after `after` (for `--dry-run` and `/hypercare status`)."""
    after = _utc(after, "after")
    return slots(schedule, zone, after, after + _SEARCH)[0]


def previous_slot(schedule: Schedule, zone: ZoneInfo, before: dt.datetime) -> Slot:
    """The last slot due strictly before `before`.

    A digest for slot S covers the period from `previous_slot(S.at_utc)` to S: since the
    previous *scheduled* digest, whether or not that one was posted.
    """
    before = _utc(before, "before")
    first, last = _dates_around(before - _SEARCH, before, zone)
    earlier = [slot for slot in _walk(schedule, zone, first, last) if slot.at_utc < before]
    return earlier[-1]


def due_slot(
    schedule: Schedule, zone: ZoneInfo, now: dt.datetime, grace: dt.timedelta
) -> DueSlot | None:
    """The slot to post at `now`, or None: the latest one due, if at most `grace` ago.

    Older missed slots are never offered, so a bot back after days posts one digest, not one
    per missed day. The caller claims `(job, due.key)` before posting, so each slot is posted
    once however often this is asked. A disabled schedule is never due.
    """
    now = _utc(now, "now")
    if grace < dt.timedelta(0):
        raise ValueError("grace must not be negative")
    if not schedule.enabled:
        return None
    latest = previous_slot(schedule, zone, now + dt.timedelta(microseconds=1))
    waited = now - latest.at_utc
    if waited > grace:
        return None
    return DueSlot(latest, late=waited > LATE_AFTER)
