"""Who is on call at a given instant, and when that changes — on virtual time only.

Shifts start at the rota's hand-off time in the program's zone. Every local time becomes an
instant through `local_instant`, which is the one place daylight-saving time is handled: a time
in a spring-forward gap means the first valid instant after it, and a time that happens twice on
a fall-back day means the first of the two (fold=0). Because each local date yields exactly one
instant, every hand-off happens once, whatever the clocks do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.domain import LocalDays
from bot.oncall.program import OnCallProgram, RotaConfig

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)


class Handoff(NamedTuple):
    """A change of the person on call; None means nobody covers."""

    at: dt.datetime
    outgoing: str | None
    incoming: str | None


class OnCallNow(NamedTuple):
    """Who is on call on the primary and the secondary rota."""

    primary: str | None
    secondary: str | None


def _aware_utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def local_instant(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local date and time names in `zone`, DST-safe (see the module doc)."""
    wall = dt.datetime.combine(day, clock)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # the time exists; on a fall-back day fold=0 picked its first occurrence
    # In a gap, fold=1 reads the wall time with the later offset and lands before the jump,
    # fold=0 with the earlier offset and after it. The jump is the first instant whose wall
    # time is past `wall`: search for it between the two, in whole seconds (zones move on them).
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp()) + 1
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, UTC)


MAX_DAYS = 1000  # one bound parameter per day boundary in a query; beyond any hypercare window


def local_days(since: dt.datetime, until: dt.datetime, zone: ZoneInfo) -> LocalDays:
    """The local days from `since`'s local date to that of the last instant before `until`.

    A period ending at midnight does not touch the next day. Days 1, 2, … start at the UTC
    instants of their local midnights (`local_instant`), so a 23- or 25-hour day is exact.
    """
    first = since.astimezone(zone).date()
    last = (until - dt.timedelta(microseconds=1)).astimezone(zone).date()
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days per query, not {count}")
    days = tuple(first + dt.timedelta(days=n) for n in range(count))
    starts = tuple(local_instant(day, dt.time(0), zone) for day in days[1:])
    return LocalDays(since, until, days, starts)


def _instant(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """An override bound: as given when it has an offset, else local time in `zone`."""
    if value.tzinfo is None:
        return local_instant(value.date(), value.time(), zone)
    return value.astimezone(UTC)


def _shift_start(rota: RotaConfig, zone: ZoneInfo, index: int) -> dt.datetime:
    day = rota.start + dt.timedelta(days=index * rota.shift_days)
    return local_instant(day, rota.handoff_time, zone)


def _shift_index(rota: RotaConfig, zone: ZoneInfo, at: dt.datetime) -> int | None:
    """The number of the shift containing `at` (0 is the first), or None before the first."""
    if at < _shift_start(rota, zone, 0):
        return None
    index = (at.astimezone(zone).date() - rota.start).days // rota.shift_days
    # The local date is a close guess; the hand-off time on that date may still be ahead.
    while index > 0 and at < _shift_start(rota, zone, index):
        index -= 1
    while at >= _shift_start(rota, zone, index + 1):
        index += 1
    return index


def _available(rota: RotaConfig, zone: ZoneInfo, person: str, at: dt.datetime) -> bool:
    hours = rota.business_hours.get(person)
    if hours is None:
        return True
    day = at.astimezone(zone).date()
    if day.weekday() not in hours.weekdays:
        return False
    return local_instant(day, hours.from_, zone) <= at < local_instant(day, hours.to, zone)


def on_call(rota: RotaConfig, zone: ZoneInfo, at: dt.datetime) -> str | None:
    """Who covers this rota at `at`: an override, else the shift's member or the next available.

    The last listed override covering `at` wins, whatever its person's business hours (an
    override is a deliberate human choice). Otherwise the member whose shift contains `at`; if
    their business hours exclude `at`, the next member in rotation order who is available.
    Nobody before the first shift, or when nobody is available.
    """
    at = _aware_utc(at, "at")
    for override in reversed(rota.overrides):
        if _instant(override.from_, zone) <= at < _instant(override.to, zone):
            return override.who
    index = _shift_index(rota, zone, at)
    if index is None:
        return None
    count = len(rota.members)
    for offset in range(count):
        member = rota.members[(index + offset) % count]
        if _available(rota, zone, member, at):
            return member
    return None


def _changes_on(rota: RotaConfig, zone: ZoneInfo, day: dt.date) -> Iterator[dt.datetime]:
    """Every instant on this local date at which the rota's answer may change."""
    if day >= rota.start and (day - rota.start).days % rota.shift_days == 0:
        yield local_instant(day, rota.handoff_time, zone)
    for hours in rota.business_hours.values():
        if day.weekday() in hours.weekdays:
            yield local_instant(day, hours.from_, zone)
            yield local_instant(day, hours.to, zone)


def next_handoffs(
    rota: RotaConfig,
    zone: ZoneInfo,
    after: dt.datetime,
    count: int,
    within: dt.timedelta = dt.timedelta(days=366),
) -> list[Handoff]:
    """The next `count` changes of person strictly after `after`, looking `within` ahead.

    Only real changes are listed: a shift boundary between two shifts of the same person, or an
    override naming whoever was on call anyway, is no hand-off. Business hours starting or
    ending and overrides starting or ending are changes when they change the person.
    """
    after = _aware_utc(after, "after")
    until = after + within
    overrides = {
        _instant(bound, zone)
        for override in rota.overrides
        for bound in (override.from_, override.to)
    }
    handoffs: list[Handoff] = []
    current = on_call(rota, zone, after)
    # Local instants grow with the wall time, so scanning day by day meets them in order. Start
    # a day early: a time in a gap just before midnight lands on the next date.
    day = after.astimezone(zone).date() - ONE_DAY
    while len(handoffs) < count and local_instant(day, dt.time(0), zone) <= until:
        moments = set(_changes_on(rota, zone, day))
        moments |= {moment for moment in overrides if moment.astimezone(zone).date() == day}
        for moment in sorted(moments):
            if not after < moment <= until:
                continue
            incoming = on_call(rota, zone, moment)
            if incoming != current:
                handoffs.append(Handoff(moment, current, incoming))
                current = incoming
        day += ONE_DAY
    return handoffs[:count]


def who_is_on_call(program: OnCallProgram, zone: ZoneInfo, at: dt.datetime) -> OnCallNow:
    """Who is on call on the primary rota and, when there is one, the secondary rota."""
    primary = on_call(program.rota(program.primary), zone, at)
    if program.secondary is None:
        return OnCallNow(primary, None)
    return OnCallNow(primary, on_call(program.rota(program.secondary), zone, at))
