"""Who is on call, and when that changes, across hand-offs, DST, overrides and business hours."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.oncall.program import OnCallProgram, RotaConfig
from bot.oncall.rota import Handoff, OnCallNow, next_handoffs, on_call, who_is_on_call

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def rota(**fields: Any) -> RotaConfig:
    base: dict[str, Any] = {
        "id": "ops",
        "members": ["U0ALICE", "U0BOB", "U0CAROL"],
        "rotation": "weekly",
        "handoff": "MON 09:00",
        "start": "2025-03-03",
    }
    return RotaConfig.model_validate(base | fields)


def daily(handoff: str, start: str, members: tuple[str, ...] = ("U0ALICE", "U0BOB")) -> RotaConfig:
    return rota(rotation="daily", handoff=handoff, start=start, members=list(members))


def test_weekly_rotation_changes_at_the_local_handoff() -> None:
    """A weekly rota hands over on its weekday at its local time, cycling through members."""
    ops = rota()  # Berlin is UTC+1 in early March: 09:00 local is 08:00 UTC
    assert on_call(ops, BERLIN, utc("2025-03-03T07:59:59")) is None  # before the first shift
    assert on_call(ops, BERLIN, utc("2025-03-03T08:00:00")) == "U0ALICE"
    assert on_call(ops, BERLIN, utc("2025-03-10T07:59:59")) == "U0ALICE"
    assert on_call(ops, BERLIN, utc("2025-03-10T08:00:00")) == "U0BOB"
    assert on_call(ops, BERLIN, utc("2025-03-17T08:00:00")) == "U0CAROL"
    assert on_call(ops, BERLIN, utc("2025-03-24T08:00:00")) == "U0ALICE"
    # The same instant, seen from another zone's clock, is the same shift.
    later = dt.datetime(2025, 3, 10, 4, 0, tzinfo=NEW_YORK)  # 08:00 UTC
    assert on_call(ops, BERLIN, later) == "U0BOB"


def test_daily_rotation_changes_every_day() -> None:
    """A daily rota hands over every day at its local time."""
    ops = daily("09:00", "2025-03-03", ("U0ALICE", "U0BOB", "U0CAROL"))
    got = [on_call(ops, BERLIN, utc(f"2025-03-0{day}T12:00:00")) for day in range(3, 8)]
    assert got == ["U0ALICE", "U0BOB", "U0CAROL", "U0ALICE", "U0BOB"]
    assert on_call(ops, BERLIN, utc("2025-03-04T07:59:59")) == "U0ALICE"


def test_naive_instants_are_refused() -> None:
    """An instant without a zone is a programming error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(rota(), BERLIN, dt.datetime(2025, 3, 3, 12, 0))


@pytest.mark.parametrize(
    ("zone", "start", "gap_day", "handoff_utc"),
    [
        # Berlin jumps 02:00 → 03:00 on 30 March: 02:30 means 03:00 CEST, 01:00 UTC.
        (BERLIN, "2025-03-28", "2025-03-30", "2025-03-30T01:00:00"),
        # New York jumps 02:00 → 03:00 on 9 March: 02:30 means 03:00 EDT, 07:00 UTC.
        (NEW_YORK, "2025-03-07", "2025-03-09", "2025-03-09T07:00:00"),
    ],
)
def test_spring_forward_handoff_in_the_gap_happens_once_at_the_first_valid_instant(
    zone: ZoneInfo, start: str, gap_day: str, handoff_utc: str
) -> None:
    """A 02:30 hand-off on a spring-forward day happens once, when the clock jumps past it."""
    ops = daily("02:30", start, ("U0ALICE", "U0BOB", "U0CAROL"))
    handoffs = next_handoffs(ops, zone, utc(f"{start}T12:00:00"), 3)
    assert [h.at for h in handoffs][1] == utc(handoff_utc)
    assert handoffs[1] == Handoff(utc(handoff_utc), "U0BOB", "U0CAROL")
    assert [h.at.astimezone(zone).date().isoformat() for h in handoffs][1] == gap_day
    assert on_call(ops, zone, utc(handoff_utc) - SECOND) == "U0BOB"


@pytest.mark.parametrize(
    ("zone", "clock", "fold_day", "handoff_utc"),
    [
        # Berlin repeats 02:00–03:00 on 26 October: 02:30 is taken at its first pass (CEST).
        (BERLIN, "02:30", "2025-10-26", "2025-10-26T00:30:00"),
        # New York repeats 01:00–02:00 on 2 November: 02:30 is unambiguous (EST)…
        (NEW_YORK, "02:30", "2025-11-02", "2025-11-02T07:30:00"),
        # …and 01:30 happens twice, taken at its first pass (EDT).
        (NEW_YORK, "01:30", "2025-11-02", "2025-11-02T05:30:00"),
    ],
)
def test_fall_back_handoff_happens_once_at_the_first_occurrence(
    zone: ZoneInfo, clock: str, fold_day: str, handoff_utc: str
) -> None:
    """A hand-off at a time that happens twice on a fall-back day happens once (fold=0)."""
    day = dt.date.fromisoformat(fold_day)
    ops = daily(clock, str(day - dt.timedelta(days=2)), ("U0ALICE", "U0BOB", "U0CAROL"))
    handoffs = next_handoffs(ops, zone, utc(f"{day - dt.timedelta(days=1)}T12:00:00"), 2)
    assert handoffs[0] == Handoff(utc(handoff_utc), "U0BOB", "U0CAROL")
    assert handoffs[0].at.astimezone(zone).date().isoformat() == fold_day
    # Where the wall clock reads the hand-off time again an hour later, nothing changes then:
    # the next hand-off is the next day's.
    assert on_call(ops, zone, utc(handoff_utc) + dt.timedelta(hours=1)) == "U0CAROL"
    assert handoffs[1].outgoing == "U0CAROL"
    assert handoffs[1].at.astimezone(zone).date() == day + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("zone", "days", "hours"),
    [
        (BERLIN, ("2025-03-29", "2025-03-30", "2025-03-31"), (8, 7, 7)),
        (BERLIN, ("2025-10-25", "2025-10-26", "2025-10-27"), (7, 8, 8)),
        (NEW_YORK, ("2025-03-08", "2025-03-09", "2025-03-10"), (14, 13, 13)),
        (NEW_YORK, ("2025-11-01", "2025-11-02", "2025-11-03"), (13, 14, 14)),
    ],
)
def test_morning_handoffs_stay_at_nine_local_across_dst(
    zone: ZoneInfo, days: tuple[str, ...], hours: tuple[int, ...]
) -> None:
    """A 09:00 hand-off stays at 09:00 local on both sides of a DST change."""
    ops = daily("09:00", "2025-03-01")
    handoffs = next_handoffs(ops, zone, utc(f"{days[0]}T00:00:00"), 3)
    assert [h.at for h in handoffs] == [
        utc(f"{day}T{hour:02d}:00:00") for day, hour in zip(days, hours, strict=True)
    ]
    assert all(h.at.astimezone(zone).time() == dt.time(9, 0) for h in handoffs)


def test_weekly_handoff_in_the_gap_keeps_the_week() -> None:
    """A weekly Sunday 02:30 hand-off on the spring-forward Sunday happens once, at 03:00 CEST."""
    ops = rota(handoff="SUN 02:30", start="2025-03-23", members=["U0ALICE", "U0BOB"])
    handoffs = next_handoffs(ops, BERLIN, utc("2025-03-24T00:00:00"), 2)
    assert handoffs == [
        Handoff(utc("2025-03-30T01:00:00"), "U0ALICE", "U0BOB"),
        Handoff(utc("2025-04-06T00:30:00"), "U0BOB", "U0ALICE"),
    ]


def test_overrides_take_precedence_and_end() -> None:
    """An override wins while it lasts, the last listed wins overlaps, then the rota resumes."""
    ops = rota(
        overrides=[
            {"from": "2025-03-05T18:00", "to": "2025-03-06T08:00", "who": "U0DAVE"},  # local
            {"from": "2025-03-05T20:00Z", "to": "2025-03-05T21:00Z", "who": "erin@example.com"},
        ]
    )
    assert on_call(ops, BERLIN, utc("2025-03-05T16:59:59")) == "U0ALICE"
    assert on_call(ops, BERLIN, utc("2025-03-05T17:00:00")) == "U0DAVE"  # 18:00 Berlin
    assert on_call(ops, BERLIN, utc("2025-03-05T20:30:00")) == "erin@example.com"
    assert on_call(ops, BERLIN, utc("2025-03-06T06:59:59")) == "U0DAVE"
    assert on_call(ops, BERLIN, utc("2025-03-06T07:00:00")) == "U0ALICE"
    assert next_handoffs(ops, BERLIN, utc("2025-03-05T12:00:00"), 4) == [
        Handoff(utc("2025-03-05T17:00:00"), "U0ALICE", "U0DAVE"),
        Handoff(utc("2025-03-05T20:00:00"), "U0DAVE", "erin@example.com"),
        Handoff(utc("2025-03-05T21:00:00"), "erin@example.com", "U0DAVE"),
        Handoff(utc("2025-03-06T07:00:00"), "U0DAVE", "U0ALICE"),
    ]


def test_business_hours_member_outside_hours_falls_through_to_the_next_available() -> None:
    """Outside a member's business hours the next available member in rotation order covers."""
    mixed = rota(
        members=["vendor@example.com", "U0BOB", "U0CAROL"],
        business_hours={
            "vendor@example.com": {"days": "MON-FRI", "from": "09:00", "to": "17:00"},
            "U0BOB": {"days": "MON-FRI", "from": "08:00", "to": "18:00"},
        },
    )
    assert on_call(mixed, BERLIN, utc("2025-03-04T10:00:00")) == "vendor@example.com"
    assert on_call(mixed, BERLIN, utc("2025-03-04T16:30:00")) == "U0BOB"  # 17:30 local
    assert on_call(mixed, BERLIN, utc("2025-03-04T20:00:00")) == "U0CAROL"
    assert on_call(mixed, BERLIN, utc("2025-03-08T10:00:00")) == "U0CAROL"  # Saturday
    assert next_handoffs(mixed, BERLIN, utc("2025-03-04T12:00:00"), 3) == [
        Handoff(utc("2025-03-04T16:00:00"), "vendor@example.com", "U0BOB"),
        Handoff(utc("2025-03-04T17:00:00"), "U0BOB", "U0CAROL"),
        Handoff(utc("2025-03-05T07:00:00"), "U0CAROL", "U0BOB"),
    ]


def test_nobody_when_every_member_is_outside_hours() -> None:
    """When no member is available, nobody is on call (and that change is a hand-off too)."""
    office = rota(
        members=["U0ALICE"],
        business_hours={"U0ALICE": {"days": "MON-FRI", "from": "09:00", "to": "17:00"}},
    )
    assert on_call(office, BERLIN, utc("2025-03-04T20:00:00")) is None
    assert next_handoffs(office, BERLIN, utc("2025-03-07T12:00:00"), 2) == [
        Handoff(utc("2025-03-07T16:00:00"), "U0ALICE", None),
        Handoff(utc("2025-03-10T08:00:00"), None, "U0ALICE"),
    ]


def test_next_handoffs_lists_only_real_changes_of_person() -> None:
    """Shift boundaries and overrides that keep the same person on call are not hand-offs."""
    ops = rota(
        members=["U0ALICE", "U0ALICE", "U0BOB"],
        overrides=[{"from": "2025-03-20T10:00Z", "to": "2025-03-20T11:00Z", "who": "U0ALICE"}],
    )
    assert next_handoffs(ops, BERLIN, utc("2025-03-01T00:00:00"), 3) == [
        Handoff(utc("2025-03-03T08:00:00"), None, "U0ALICE"),
        Handoff(utc("2025-03-17T08:00:00"), "U0ALICE", "U0BOB"),
        Handoff(utc("2025-03-20T10:00:00"), "U0BOB", "U0ALICE"),
    ]
    assert next_handoffs(rota(members=["U0ALICE"]), BERLIN, utc("2025-03-04T00:00:00"), 1) == []


def test_who_is_on_call_reads_primary_and_secondary() -> None:
    """The primary and secondary rotas are read at the same instant."""
    vendor = daily("08:00", "2025-03-01", ("U0ERIN", "U0FRANK")).model_copy(update={"id": "v"})
    program = OnCallProgram(rotas=(rota(), vendor), primary="ops", secondary="v")
    at = utc("2025-03-04T12:00:00")
    assert who_is_on_call(program, BERLIN, at) == OnCallNow("U0ALICE", "U0FRANK")
    alone = OnCallProgram(rotas=(rota(),), primary="ops")
    assert who_is_on_call(alone, BERLIN, at) == OnCallNow("U0ALICE", None)


ZONES = st.sampled_from(
    [BERLIN, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Tehran")]
)
PEOPLE = st.sampled_from(["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"])
CLOCKS = st.sampled_from(["00:00", "00:30", "01:30", "02:00", "02:30", "09:00", "23:30"])


@st.composite
def rotas(draw: st.DrawFn) -> RotaConfig:
    start = draw(st.dates(dt.date(2024, 1, 1), dt.date(2025, 12, 31)))
    weekly = draw(st.booleans())
    clock = draw(CLOCKS)
    members = draw(st.lists(PEOPLE, min_size=1, max_size=4))
    hours = draw(st.dictionaries(st.sampled_from(members), st.just(None), max_size=2))
    first = dt.datetime.combine(start, dt.time(0))
    overrides = [
        {"from": first + dt.timedelta(hours=h), "to": first + dt.timedelta(hours=h + d), "who": p}
        for h, d, p in draw(
            st.lists(st.tuples(st.integers(-48, 400), st.integers(1, 60), PEOPLE), max_size=3)
        )
    ]
    return RotaConfig.model_validate(
        {
            "id": "r",
            "members": members,
            "rotation": "weekly" if weekly else "daily",
            "handoff": f"{start.strftime('%a').upper()} {clock}" if weekly else clock,
            "start": start,
            "business_hours": {
                person: {"days": "MON-FRI", "from": "02:30", "to": "17:00"} for person in hours
            },
            "overrides": overrides,
        }
    )


@settings(max_examples=150, deadline=None)
@given(rotas(), ZONES, st.integers(-3 * 24, 30 * 24))
def test_handoffs_chain_and_agree_with_on_call(
    ops: RotaConfig, zone: ZoneInfo, hours_after_start: int
) -> None:
    """Hand-offs are strictly ordered, chain outgoing to incoming, and match `on_call` exactly."""
    after = dt.datetime.combine(ops.start, dt.time(0), UTC) + dt.timedelta(hours=hours_after_start)
    handoffs = next_handoffs(ops, zone, after, 12, within=dt.timedelta(days=60))
    current = on_call(ops, zone, after)
    for handoff in handoffs:
        assert handoff.at > after
        assert handoff.outgoing == current != handoff.incoming
        assert on_call(ops, zone, handoff.at - dt.timedelta(microseconds=1)) == handoff.outgoing
        assert on_call(ops, zone, handoff.at) == handoff.incoming
        after, current = handoff.at, handoff.incoming
