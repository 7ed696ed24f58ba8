"""Digest slots on virtual time: local schedules across DST, missed digests, one post per day."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.oncall.program import WEEKDAYS
from bot.oncall.rota import local_instant
from bot.reports.program import DailyDigest, WeeklyReview
from bot.reports.schedule import (
    DueSlot,
    Slot,
    due_slot,
    next_slot,
    previous_slot,
    slots,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
SIX_HOURS = dt.timedelta(hours=6)


def daily(**fields: Any) -> DailyDigest:
    """A daily digest schedule; YAML-shaped fields."""
    return DailyDigest.model_validate(fields)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> dt.datetime:
    """An aware local wall time in `zone` (its first occurrence, where it happens twice)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware UTC time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def run_scheduler(
    schedule: DailyDigest | WeeklyReview,
    zone: ZoneInfo,
    start: dt.datetime,
    end: dt.datetime,
    every: dt.timedelta = 5 * MINUTE,
    down: tuple[dt.datetime, dt.datetime] | None = None,
) -> list[tuple[dt.datetime, DueSlot]]:
    """Tick from `start` to `end`, claiming each due slot's key once, as the digest job does."""
    claimed: set[str] = set()
    posted = []
    now = start
    while now <= end:
        if down is None or not down[0] <= now < down[1]:
            due = due_slot(schedule, zone, now, schedule.grace_period)
            if due is not None and due.key not in claimed:
                claimed.add(due.key)
                posted.append((now, due))
        now += every
    return posted


def test_working_days_skip_the_weekend_at_nine_local() -> None:
    """MON-FRI at 09:00 gives five slots a week, each at 09:00 Berlin time."""
    found = slots(daily(), BERLIN, local(BERLIN, 2026, 3, 1), local(BERLIN, 2026, 3, 15))
    assert [slot.key for slot in found] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-09",
        "2026-03-10",
        "2026-03-11",
        "2026-03-12",
        "2026-03-13",
    ]
    assert {slot.at_utc.astimezone(BERLIN).time() for slot in found} == {dt.time(9, 0)}
    assert found[0] == Slot(dt.date(2026, 3, 2), utc(2026, 3, 2, 8, 0))


def test_nine_local_moves_in_utc_across_both_dst_changes() -> None:
    """09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer, on the right days."""
    spring = slots(daily(), BERLIN, local(BERLIN, 2026, 3, 27), local(BERLIN, 2026, 3, 31))
    assert [slot.at_utc for slot in spring] == [
        utc(2026, 3, 27, 8, 0),  # Friday, CET
        utc(2026, 3, 30, 7, 0),  # Monday, CEST (clocks went forward on Sunday the 29th)
    ]
    autumn = slots(daily(), BERLIN, local(BERLIN, 2026, 10, 23), local(BERLIN, 2026, 10, 27))
    assert [slot.at_utc for slot in autumn] == [utc(2026, 10, 23, 7, 0), utc(2026, 10, 26, 8, 0)]


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc", "expected_local"),
    [
        (BERLIN, dt.date(2026, 3, 29), utc(2026, 3, 29, 1, 0), dt.time(3, 0)),
        (NEW_YORK, dt.date(2026, 3, 8), utc(2026, 3, 8, 7, 0), dt.time(3, 0)),
    ],
)
def test_a_time_in_the_spring_forward_gap_runs_once_at_the_first_valid_instant(
    zone: ZoneInfo, day: dt.date, expected_utc: dt.datetime, expected_local: dt.time
) -> None:
    """02:30 does not exist on the spring-forward day: that day's digest runs at 03:00."""
    schedule = daily(at="02:30", days="MON-SUN")
    start = local(zone, day.year, day.month, day.day - 1, 12, 0)
    found = slots(schedule, zone, start, start + dt.timedelta(days=2))
    assert [slot.key for slot in found] == [day.isoformat(), (day + dt.timedelta(1)).isoformat()]
    assert found[0].at_utc == expected_utc
    assert found[0].at_utc.astimezone(zone).time() == expected_local
    assert found[1].at_utc.astimezone(zone).time() == dt.time(2, 30)  # back to normal


@pytest.mark.parametrize(
    ("zone", "at", "day", "expected_utc"),
    [
        (BERLIN, "02:30", dt.date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # 02:30 CEST
        (NEW_YORK, "01:30", dt.date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),  # 01:30 EDT
    ],
)
def test_a_time_that_happens_twice_on_the_fall_back_day_runs_once_at_the_first(
    zone: ZoneInfo, at: str, day: dt.date, expected_utc: dt.datetime
) -> None:
    """The repeated hour gives one slot, at its first occurrence (fold=0), never a second."""
    schedule = daily(at=at, days="MON-SUN")
    start = local(zone, day.year, day.month, day.day, 0, 0)
    found = slots(schedule, zone, start, start + dt.timedelta(hours=23))
    assert found == [Slot(day, expected_utc)]
    posted = run_scheduler(schedule, zone, start, start + dt.timedelta(hours=23))
    assert [(due.key, due.late) for _, due in posted] == [(day.isoformat(), False)]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
@pytest.mark.parametrize("month", [3, 10, 11])
def test_a_scheduler_ticking_through_a_dst_month_posts_once_per_day_on_time(
    zone: ZoneInfo, month: int
) -> None:
    """Every 5 minutes for a month at 02:30 local: one post per local date, none late."""
    schedule = daily(at="02:30", days="MON-SUN")
    start = utc(2026, month, 1)
    posted = run_scheduler(schedule, zone, start, utc(2026, month + 1, 1))
    keys = [due.key for _, due in posted]
    assert keys == [f"2026-{month:02}-{day:02}" for day in range(1, len(keys) + 1)]
    assert len(keys) in (30, 31)
    assert not any(due.late for _, due in posted)
    assert all(now - due.slot.at_utc < 5 * MINUTE for now, due in posted)


def test_a_bot_down_for_two_days_posts_only_the_latest_digest_marked_late() -> None:
    """Down Monday 08:00 to Wednesday 11:00: Wednesday's digest, late; Monday's, Tuesday's never."""
    schedule = daily()
    back = local(BERLIN, 2026, 3, 4, 11, 0)
    due = due_slot(schedule, BERLIN, back, SIX_HOURS)
    assert due == DueSlot(Slot(dt.date(2026, 3, 4), utc(2026, 3, 4, 8, 0)), late=True)
    posted = run_scheduler(
        schedule,
        BERLIN,
        local(BERLIN, 2026, 3, 2, 0, 0),
        local(BERLIN, 2026, 3, 6, 0, 0),
        down=(local(BERLIN, 2026, 3, 2, 8, 0), back),
    )
    assert [(now, due.key, due.late) for now, due in posted] == [
        (back, "2026-03-04", True),
        (local(BERLIN, 2026, 3, 5, 9, 0), "2026-03-05", False),
    ]


def test_a_digest_missed_by_more_than_the_grace_is_never_posted() -> None:
    """Back at 15:30, six and a half hours after 09:00: nothing until tomorrow's digest."""
    schedule = daily()
    assert due_slot(schedule, BERLIN, local(BERLIN, 2026, 3, 4, 15, 30), SIX_HOURS) is None
    posted = run_scheduler(
        schedule,
        BERLIN,
        local(BERLIN, 2026, 3, 2, 0, 0),
        local(BERLIN, 2026, 3, 6, 0, 0),
        down=(local(BERLIN, 2026, 3, 2, 8, 0), local(BERLIN, 2026, 3, 4, 15, 30)),
    )
    assert [due.key for _, due in posted] == ["2026-03-05"]


def test_grace_and_lateness_boundaries() -> None:
    """Due up to exactly `grace` after its time; late only past five minutes."""
    schedule = daily()
    nine = local(BERLIN, 2026, 3, 4, 9, 0)
    second = dt.timedelta(seconds=1)
    assert due_slot(schedule, BERLIN, nine - second, SIX_HOURS) is None  # Tuesday's is 24 h old
    assert due_slot(schedule, BERLIN, nine, SIX_HOURS) == DueSlot(
        Slot(dt.date(2026, 3, 4), nine.astimezone(UTC)), late=False
    )
    on_time = due_slot(schedule, BERLIN, nine + 5 * MINUTE, SIX_HOURS)
    late = due_slot(schedule, BERLIN, nine + 5 * MINUTE + second, SIX_HOURS)
    assert on_time is not None and not on_time.late
    assert late is not None and late.late
    assert due_slot(schedule, BERLIN, nine + SIX_HOURS, SIX_HOURS) is not None
    assert due_slot(schedule, BERLIN, nine + SIX_HOURS + second, SIX_HOURS) is None


def test_monday_morning_does_not_post_fridays_digest() -> None:
    """Before 09:00 on Monday the latest slot is Friday's, long past any grace."""
    monday = local(BERLIN, 2026, 3, 9, 8, 59)
    assert due_slot(daily(), BERLIN, monday, SIX_HOURS) is None
    assert due_slot(daily(), BERLIN, monday, dt.timedelta(days=3)) is not None


def test_a_disabled_schedule_is_never_due() -> None:
    """`enabled: false` stops posting; the calendar itself still answers."""
    schedule = daily(enabled=False)
    nine = local(BERLIN, 2026, 3, 4, 9, 0)
    assert due_slot(schedule, BERLIN, nine, SIX_HOURS) is None
    assert next_slot(schedule, BERLIN, nine).key == "2026-03-05"


def test_the_digest_covers_the_period_since_the_previous_scheduled_slot() -> None:
    """Monday's digest starts at Friday's slot; a slot's next is the following one, strictly."""
    monday = Slot(dt.date(2026, 3, 30), utc(2026, 3, 30, 7, 0))
    friday = Slot(dt.date(2026, 3, 27), utc(2026, 3, 27, 8, 0))
    assert previous_slot(daily(), BERLIN, monday.at_utc) == friday
    assert next_slot(daily(), BERLIN, friday.at_utc) == monday
    assert next_slot(daily(), BERLIN, friday.at_utc - MINUTE) == friday
    assert previous_slot(daily(), BERLIN, monday.at_utc + MINUTE) == monday


def test_weekly_review_runs_on_its_one_weekday() -> None:
    """FRI 16:00 New York: one slot a week, late the next morning, gone after a day."""
    review = WeeklyReview()
    found = slots(review, NEW_YORK, local(NEW_YORK, 2026, 10, 1), local(NEW_YORK, 2026, 11, 30))
    assert {slot.local_date.weekday() for slot in found} == {4}
    assert len(found) == 9
    assert {slot.at_utc.astimezone(NEW_YORK).time() for slot in found} == {dt.time(16, 0)}
    friday = local(NEW_YORK, 2026, 11, 6, 16, 0)  # the first Friday after the fall-back
    assert friday.astimezone(UTC) == utc(2026, 11, 6, 21, 0)
    saturday = due_slot(review, NEW_YORK, friday + 18 * HOUR, review.grace_period)
    assert saturday is not None and saturday.late and saturday.key == "2026-11-06"
    sunday = friday + dt.timedelta(days=1, minutes=1)
    assert due_slot(review, NEW_YORK, sunday, review.grace_period) is None
    assert previous_slot(review, NEW_YORK, friday).key == "2026-10-30"
    assert next_slot(review, NEW_YORK, friday).key == "2026-11-13"


def test_naive_times_and_negative_grace_are_refused() -> None:
    """A naive datetime has no instant, and a negative grace is a bug in the caller."""
    naive = dt.datetime(2026, 3, 4, 9, 0)
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        due_slot(daily(), BERLIN, naive, SIX_HOURS)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        slots(daily(), BERLIN, naive, utc(2026, 3, 5))
    with pytest.raises(ValueError, match="grace must not be negative"):
        due_slot(daily(), BERLIN, utc(2026, 3, 4), -MINUTE)
    assert slots(daily(), BERLIN, utc(2026, 3, 5), utc(2026, 3, 4)) == []


def test_a_date_a_zone_skips_entirely_still_gets_one_slot_per_instant() -> None:
    """Samoa skipped 30 December 2011: its midnight would be the 31st's, so only the 31st runs."""
    apia = ZoneInfo("Pacific/Apia")
    start, end = utc(2011, 12, 28, 20), utc(2011, 12, 31, 20)  # local 10:00 each
    midnight = slots(daily(at="00:00", days="MON-SUN"), apia, start, end)
    assert [slot.key for slot in midnight] == ["2011-12-29", "2011-12-31", "2012-01-01"]
    assert len({slot.at_utc for slot in midnight}) == len(midnight)
    # 09:00 on the skipped date is still a distinct instant: the first one after the jump.
    morning = slots(daily(at="09:00", days="MON-SUN"), apia, start, end)
    assert [slot.key for slot in morning] == [
        "2011-12-29",
        "2011-12-30",
        "2011-12-31",
        "2012-01-01",
    ]
    assert morning[1].at_utc.astimezone(apia) == local(apia, 2011, 12, 31, 0, 0)


ZONES = st.sampled_from(
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "America/Santiago",  # DST changes at midnight
        "Asia/Kolkata",
        "Pacific/Apia",
        "UTC",
    ]
).map(ZoneInfo)
DAYS = st.sets(st.integers(0, 6), min_size=1).map(
    lambda days: ",".join(WEEKDAYS[day] for day in sorted(days))
)
SCHEDULES = st.builds(
    lambda hour, minute, days: daily(at=f"{hour:02}:{minute:02}", days=days),
    st.integers(0, 23),
    st.integers(0, 59),
    DAYS,
)
INSTANTS = st.datetimes(dt.datetime(2010, 1, 1), dt.datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(SCHEDULES, ZONES, INSTANTS, st.integers(0, 60 * 24 * 60))
def test_slots_increase_one_per_scheduled_local_date(
    schedule: DailyDigest, zone: ZoneInfo, start: dt.datetime, minutes: int
) -> None:
    """Slots strictly increase, one per local date, each on a scheduled weekday, none missing."""
    end = start + dt.timedelta(minutes=minutes)
    found = slots(schedule, zone, start, end)
    assert all(start < slot.at_utc <= end for slot in found)
    assert all(
        a.at_utc < b.at_utc and a.local_date < b.local_date for a, b in itertools.pairwise(found)
    )
    assert all(slot.local_date.weekday() in schedule.weekdays for slot in found)
    assert len({slot.key for slot in found}) == len(found)
    for slot in found:
        assert slot.at_utc == local_instant(slot.local_date, schedule.at, zone)
        wall = slot.at_utc.astimezone(zone).replace(tzinfo=None)
        assert wall >= dt.datetime.combine(slot.local_date, schedule.at)
    # None missing: the chain of next slots from `start` is exactly what `slots` listed.
    chain: list[Slot] = []
    slot = next_slot(schedule, zone, start)
    while slot.at_utc <= end:
        if chain:
            assert previous_slot(schedule, zone, slot.at_utc) == chain[-1]
        chain.append(slot)
        slot = next_slot(schedule, zone, slot.at_utc)
    assert chain == found


@settings(max_examples=300, deadline=None)
@given(SCHEDULES, ZONES, INSTANTS, st.integers(0, 3 * 24 * 60))
def test_due_slot_is_the_latest_slot_within_grace(
    schedule: DailyDigest, zone: ZoneInfo, now: dt.datetime, grace_minutes: int
) -> None:
    """Due means: the latest slot at or before now, at most `grace` ago; late past 5 minutes."""
    grace = dt.timedelta(minutes=grace_minutes)
    due = due_slot(schedule, zone, now, grace)
    latest = previous_slot(schedule, zone, now + dt.timedelta(microseconds=1))
    assert latest.at_utc <= now and slots(schedule, zone, latest.at_utc, now) == []
    if now - latest.at_utc > grace:
        assert due is None
    else:
        assert due == DueSlot(latest, late=now - latest.at_utc > 5 * MINUTE)
