"""KPIs in SQL on both databases, over a hand-computed week in Europe/Berlin.

The week runs from local midnight on Fri 2026-10-23 to local midnight on Wed 2026-10-28. On
Sun 2026-10-25 the clocks go back at 03:00 CEST (01:00 UTC), so that day lasts 25 hours: it
starts at 22:00 UTC the day before and ends at 23:00 UTC. Items sit on the first and last
instants of days, on both sides of the change, so a fixed UTC offset, a UTC day or a closed
period boundary gives different figures. Mon 2026-10-26 has no events at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain import MeanTimes
from bot.oncall.rota import local_days
from storage import db
from storage.exit import ExitQueries
from storage.kpis import AlertStats, DayBacklog, DayCount, Kpis, RuleFiring
from storage.models import AlertRow, EscalationRow, FeedbackRow

BERLIN = ZoneInfo("Europe/Berlin")
SINCE = dt.datetime(2026, 10, 22, 22, 0, tzinfo=dt.UTC)  # Fri 23 Oct, 00:00 CEST
UNTIL = dt.datetime(2026, 10, 27, 23, 0, tzinfo=dt.UTC)  # Wed 28 Oct, 00:00 CET
SEVERITIES = ("sev1", "sev2", "sev3")
DAYS = [dt.date(2026, 10, d) for d in (23, 24, 25, 26, 27)]
_numbers = itertools.count(1)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant in October 2026, in UTC."""
    return dt.datetime(2026, 10, day, hour, minute, second, tzinfo=dt.UTC)


def by_severity(*counts: int) -> dict[str, int]:
    """Counts of sev1, sev2, sev3, in that order."""
    return dict(zip(SEVERITIES, counts, strict=True))


def rounded(times: MeanTimes) -> MeanTimes:
    """To the millisecond, as far as SQLite's julianday() arithmetic is exact."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return dataclasses.replace(
        times, mtta_seconds=ms(times.mtta_seconds), mttr_seconds=ms(times.mttr_seconds)
    )


def feedback(
    severity: str, created: dt.datetime, resolved: dt.datetime | None, **extra: Any
) -> FeedbackRow:
    """A feedback row with filler text; only what the KPIs read is given."""
    n = next(_numbers)
    return FeedbackRow(
        submission_key=f"k{n}",
        summary=f"item {n}",
        category="bug",
        severity=severity,
        component="api",
        environment="production",
        trying="t",
        expected="e",
        actual="a",
        channel_id="C0FEEDBACK",
        reporter_id="U0ALICE",
        state="resolved" if resolved else "new",
        created_at=created,
        updated_at=resolved or created,
        resolved_at=resolved,
        **extra,
    )


def escalation(
    kind: str, item: int, severity: str, started: dt.datetime, **extra: Any
) -> EscalationRow:
    """An escalation row; the JSON state is irrelevant to the KPIs."""
    return EscalationRow(
        item_kind=kind,
        item_id=item,
        severity=severity,
        state={},
        started_at=started,
        ack_due=started + dt.timedelta(minutes=15),
        resolve_due=started + dt.timedelta(hours=4),
        breaches=1 if extra.get("sla_breached_at") else 0,
        paged=[],
        pages=[],
        **extra,
    )


def alert(rule: str, severity: str, fired: dt.datetime, resolved: dt.datetime | None) -> AlertRow:
    """An alert row of a rule."""
    return AlertRow(
        rule_id=rule,
        scope={"service": "payments"},
        source_id="gateway",
        severity=severity,
        channel_id="C0ALERTS",
        state="resolved" if resolved else "firing",
        value=0.2,
        threshold=0.01,
        unit="ratio",
        since=fired,
        fired_at=fired,
        resolved_at=resolved,
    )


@pytest.fixture
def kpis(database_url: str) -> Kpis:
    """A migrated database holding the week described in the module docstring."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    sessions = db.make_sessions(engine)
    rows = {
        # before the week: open at its start (F0), open throughout (F1), over before it (F2)
        "F0": feedback("sev2", utc(20, 10), utc(23, 8)),  # MTTR 70 h
        "F1": feedback("sev3", utc(21, 12), None, ticket_key="HYP-1", owner_name="Dana Dev"),
        "F2": feedback("sev1", utc(19, 8), utc(20, 9)),
        # in the week
        "F3": feedback("sev1", utc(23, 6), utc(23, 10)),  # Fri; MTTR 4 h
        "F4": feedback(
            "sev2", utc(24, 21, 59, 59), utc(25, 0, 30)
        ),  # Sat 23:59:59 → Sun 02:30 CEST
        "F5": feedback("sev2", utc(25, 1, 30), utc(25, 22, 59, 59)),  # Sun 02:30 CET → 23:59:59
        "F6": feedback("sev1", utc(24, 22), None),  # Sun 00:00 CEST, nobody owns it
        "F7": feedback("sev3", utc(27, 10), None, acknowledged_by="U0BOB", owner_id="U0BOB"),
        "F8": feedback("sev2", utc(27, 22, 59, 59), utc(27, 23)),  # resolved at UNTIL exactly
        "F9": feedback("sev3", utc(28, 8), None),  # after the week
        # on the week's first instant: resolved then (open just before), created then (not)
        "F10": feedback("sev3", utc(21, 0), SINCE),  # MTTR 46 h
        "F11": feedback("sev2", SINCE, utc(23, 0)),  # MTTR 2 h
    }
    alerts = {
        "A1": alert("error_rate", "sev1", utc(25, 0), utc(25, 0, 45)),  # 45 min
        "A2": alert("error_rate", "sev1", utc(27, 20), None),  # still firing: 3 h to UNTIL
        "A3": alert("latency", "sev2", utc(23, 12), utc(23, 12, 10, 30)),  # 10.5 min
        "A4": alert("latency", "sev2", utc(22, 21), utc(22, 21, 30)),  # before the week
        "A5": alert("latency", "sev2", utc(27, 22, 30), utc(27, 23, 30)),  # 30 min to UNTIL
    }
    with sessions.begin() as session:
        session.add_all([*rows.values(), *alerts.values()])
        session.flush()
        f = {name: row.id for name, row in rows.items()}
        session.add_all(
            [
                escalation("feedback", f["F3"], "sev1", utc(23, 6), acknowledged_at=utc(23, 6, 5)),
                escalation(
                    "feedback",
                    f["F4"],
                    "sev2",
                    utc(24, 21, 59, 59),
                    acknowledged_at=utc(24, 22, 14, 59),
                    sla_breached_at=utc(25, 1, 30),
                ),
                escalation(
                    "alert", alerts["A1"].id, "sev1", utc(25, 0), acknowledged_at=utc(25, 0, 20)
                ),
                escalation("feedback", f["F6"], "sev1", utc(24, 22), sla_breached_at=utc(25, 2)),
                escalation(  # acknowledged and breached before the week
                    "feedback",
                    f["F0"],
                    "sev2",
                    utc(20, 10),
                    acknowledged_at=utc(20, 11),
                    sla_breached_at=utc(22, 21, 59, 59),
                ),
                escalation(  # breached at UNTIL exactly: the next period's
                    "feedback",
                    f["F7"],
                    "sev3",
                    utc(27, 10),
                    acknowledged_at=utc(27, 22, 59, 59),
                    sla_breached_at=UNTIL,
                ),
            ]
        )
    return Kpis(sessions)


def test_local_days_follow_the_clock_change() -> None:
    """The fall-back Sunday starts at 22:00 UTC and lasts 25 hours; the others 24."""
    days = local_days(SINCE, UNTIL, BERLIN)
    assert list(days.days) == DAYS
    assert list(days.starts) == [utc(23, 22), utc(24, 22), utc(25, 23), utc(26, 23)]


def test_mean_times_per_severity(kpis: Kpis) -> None:
    """MTTA over acknowledgements in the week, MTTR over resolutions in it, per severity."""
    times = {severity: rounded(mean) for severity, mean in kpis.mean_times(SINCE, UNTIL).items()}
    assert set(times) == {"sev1", "sev2", "sev3"}
    # sev1: acks after 5 and 20 min; F3 resolved in 4 h
    assert times["sev1"] == MeanTimes(750, 14400, 2, 1)
    # sev2: one ack after 15 min; F0 70 h, F4 2 h 30 min 1 s, F5 21 h 29 min 59 s, F11 2 h
    assert times["sev2"] == MeanTimes(900, (252000 + 9001 + 77399 + 7200) / 4, 1, 4)
    # sev3: acknowledged 1 s before UNTIL; F10 resolved on the first instant
    assert times["sev3"] == MeanTimes(46799, 165600, 1, 1)


def test_mean_times_of_an_empty_period(kpis: Kpis) -> None:
    """No acknowledgement and no resolution: no severity at all."""
    assert kpis.mean_times(utc(26, 0), utc(27, 0)) == {}


def test_volume_by_local_day(kpis: Kpis) -> None:
    """Opened and resolved per Berlin day; Monday is present with zeros."""
    volume = kpis.volume_by_day(local_days(SINCE, UNTIL, BERLIN), SEVERITIES)

    def day(day: int, opened: tuple[int, int, int], resolved: tuple[int, int, int]) -> DayCount:
        return DayCount(dt.date(2026, 10, day), by_severity(*opened), by_severity(*resolved))

    assert volume == [
        day(23, (1, 1, 0), (1, 2, 1)),  # F3, F11 opened; F3, F0, F11, F10 resolved
        day(24, (0, 1, 0), (0, 0, 0)),  # F4 at 23:59:59 CEST
        day(25, (1, 1, 0), (0, 2, 0)),  # F6 at 00:00 CEST, F5 in the repeated hour; F4, F5 closed
        day(26, (0, 0, 0), (0, 0, 0)),
        day(27, (0, 1, 1), (0, 0, 0)),  # F8's resolution at UNTIL belongs to the next period
    ]


def test_volume_lists_severities_found_beyond_those_given(kpis: Kpis) -> None:
    """A severity absent from the list is still counted, after the listed ones."""
    volume = kpis.volume_by_day(local_days(SINCE, UNTIL, BERLIN), ["sev3"])
    assert list(volume[0].opened_by_severity) == ["sev3", "sev1", "sev2"]
    assert sum(sum(d.opened_by_severity.values()) for d in volume) == 7


def test_open_backlog_at_the_end_of_each_day(kpis: Kpis) -> None:
    """Open just before each local midnight: created before it, not resolved before it."""
    backlog = kpis.open_backlog_by_day(local_days(SINCE, UNTIL, BERLIN), SEVERITIES)
    expected = {
        23: (0, 0, 1),  # open at the start: F0, F1, F10 (F11 not yet); F1 left
        24: (0, 1, 1),  # F4
        25: (1, 0, 1),  # F6; F4 and F5 closed
        26: (1, 0, 1),
        27: (1, 1, 2),  # F8 is still open just before its resolution at midnight; F7
    }
    assert backlog == [
        DayBacklog(dt.date(2026, 10, d), by_severity(*n)) for d, n in expected.items()
    ]


def test_a_period_ending_mid_day_counts_up_to_its_end(kpis: Kpis) -> None:
    """The last day is cut at `until`: the backlog is the one at that instant."""
    until = utc(25, 1, 0)  # Sun 02:00 CET, in the repeated hour (F4 resolved, F5 not yet filed)
    volume = kpis.volume_by_day(local_days(utc(24, 12), until, BERLIN), SEVERITIES)
    assert [d.day for d in volume] == [dt.date(2026, 10, 24), dt.date(2026, 10, 25)]
    assert volume[1].resolved_by_severity == {"sev1": 0, "sev2": 1, "sev3": 0}
    backlog = kpis.open_backlog_by_day(local_days(utc(24, 12), until, BERLIN), SEVERITIES)
    assert [b.open_by_severity for b in backlog] == [
        {"sev1": 0, "sev2": 1, "sev3": 1},
        {"sev1": 1, "sev2": 0, "sev3": 1},
    ]


def test_open_counts_and_owners(kpis: Kpis) -> None:
    """At UNTIL, F8 is resolved; F6 has no owner (F1's is its Jira assignee, F7's took it)."""
    assert kpis.open_counts(UNTIL) == {"sev1": 1, "sev3": 2}
    assert kpis.open_counts(utc(25, 0, 0)) == {"sev1": 1, "sev2": 1, "sev3": 1}
    assert kpis.unowned_open(UNTIL) == 1
    assert kpis.unowned_open(utc(24, 0)) == 0  # F6 not yet filed
    assert kpis.critical_open(UNTIL, ["sev1"]) == 2  # F6 and the firing alert A2
    assert kpis.critical_open(utc(26, 12), ["sev1"]) == 1


def test_opened_in_a_period(kpis: Kpis) -> None:
    """Created in [since, until): F3, F6 (sev1), F4, F5, F8, F11 (sev2), F7 (sev3)."""
    assert kpis.opened(SINCE, UNTIL) == {"sev1": 2, "sev2": 4, "sev3": 1}


def test_sla_breaches(kpis: Kpis) -> None:
    """Breaches in [since, until): the one just before and the one at UNTIL are out."""
    assert kpis.breaches_by_severity(SINCE, UNTIL) == {"sev1": 1, "sev2": 1}
    assert kpis.sla_breaches(SINCE, UNTIL) == 2
    assert kpis.sla_breaches(UNTIL, UNTIL + dt.timedelta(days=1)) == 1
    assert kpis.last_breach_at() == UNTIL


def test_last_open_of_a_severity(kpis: Kpis) -> None:
    """`now` while open (feedback or alert), else the latest resolution, else None."""
    assert kpis.last_open_of_severity("sev1", UNTIL) == UNTIL
    assert kpis.last_open_of_severity("sev1", utc(22, 0)) == utc(20, 9)  # F2
    assert kpis.last_open_of_severity("sev2", UNTIL) == UNTIL  # A5 fires until 23:30
    assert kpis.last_open_of_severity("sev2", utc(28, 12)) == utc(27, 23, 30)  # A5, after F8
    assert kpis.last_open_of_severity("sev4", UNTIL) is None


def test_alert_stats(kpis: Kpis) -> None:
    """Fired in the week: A1, A2, A3, A5; time still firing counts up to UNTIL."""
    stats = kpis.alert_stats(SINCE, UNTIL)
    assert stats.mean_duration_seconds is not None
    assert dataclasses.replace(
        stats,
        mean_duration_seconds=round(stats.mean_duration_seconds, 3),
        by_rule=tuple(
            rule._replace(total_seconds=round(rule.total_seconds, 3)) for rule in stats.by_rule
        ),
    ) == AlertStats(
        fired=4,
        resolved=2,
        still_firing=2,
        mean_duration_seconds=(2700 + 630) / 2,
        by_rule=(
            RuleFiring("error_rate", 2, 2700 + 10800),
            RuleFiring("latency", 2, 630 + 1800),
        ),
    )
    assert kpis.alert_stats(utc(26, 0), utc(27, 0)) == AlertStats(0, 0, 0, None, ())


def test_mean_times_and_breaches_per_local_day_match_each_day_alone(kpis: Kpis) -> None:
    """The grouped per-day figures are those of each Berlin day asked on its own (the 25-hour
    Sunday included); the breaches add up to the week's."""
    days = local_days(SINCE, UNTIL, BERLIN)
    bounds = [SINCE, *days.starts, UNTIL]
    per_day = kpis.mean_times_by_day(days)
    assert len(per_day) == len(DAYS)
    for index, times in enumerate(per_day):
        alone = kpis.mean_times(bounds[index], bounds[index + 1])
        assert {k: rounded(v) for k, v in times.items()} == {
            k: rounded(v) for k, v in alone.items()
        }
    assert per_day[3] == {}  # Monday: nothing acknowledged or resolved
    breaches = kpis.breaches_by_day(days)
    assert breaches == [{}, {}, {"sev1": 1, "sev2": 1}, {}, {}]  # F4 and F6, both on Sunday
    assert sum(sum(day.values()) for day in breaches) == kpis.sla_breaches(SINCE, UNTIL)


def test_figures_per_week_use_the_same_queries(kpis: Kpis) -> None:
    """Buckets of several days (the exit report's weeks) are counted like days: Fri–Sat and
    Sun–Tue here."""
    days = local_days(SINCE, UNTIL, BERLIN)
    weeks = dataclasses.replace(days, days=(DAYS[0], DAYS[2]), starts=(days.starts[1],))
    assert kpis.breaches_by_day(weeks) == [{}, {"sev1": 1, "sev2": 1}]
    first, second = kpis.mean_times_by_day(weeks)
    assert rounded(first["sev1"]) == MeanTimes(300, 14400, 1, 1)  # F3's ack and resolution
    assert rounded(second["sev1"]) == MeanTimes(1200, None, 1, 0)  # A1's ack
    volume = kpis.volume_by_day(weeks, SEVERITIES)
    assert [sum(w.opened_by_severity.values()) for w in volume] == [3, 4]


def test_the_closing_reports_open_items_agree_with_the_open_counts(
    kpis: Kpis, database_url: str
) -> None:
    """The items open at an instant, in full, are those `open_counts` counts: at UNTIL F1, F7
    (sev3) and F6 (sev1), oldest first; the limit cuts the list, not the total."""
    exits = ExitQueries(db.make_sessions(db.make_engine(database_url)), "HC")
    for moment in (UNTIL, utc(25, 0, 0), utc(23, 9), SINCE):
        items, total = exits.open_at(moment, 100)
        counts: dict[str, int] = {}
        for item in items:
            counts[item.severity] = counts.get(item.severity, 0) + 1
        assert counts == kpis.open_counts(moment) and total == len(items)
        assert [i.created_at for i in items] == sorted(i.created_at for i in items)
    items, total = exits.open_at(UNTIL, 1)
    assert total == 3 and [i.ticket_key for i in items] == ["HYP-1"]  # F1, filed on the 21st


def test_a_quarter_hour_zone(kpis: Kpis, database_url: str) -> None:
    """Kathmandu is UTC+5:45, so its midnight falls a quarter past a UTC hour.

    Two items straddle midnight of the 24th (18:15 UTC), inside one UTC hour: counting by UTC
    hours would put both on one day. F11 is 03:45 on the 23rd, F3 11:45; F4 and F6 about 03:45, F5
    07:15 on the 25th.
    """
    with db.make_sessions(db.make_engine(database_url)).begin() as session:
        session.add(feedback("sev3", utc(24, 18, 14, 59), None))  # 23:59:59 on the 24th
        session.add(feedback("sev3", utc(24, 18, 15), None))  # 00:00 on the 25th
    zone = ZoneInfo("Asia/Kathmandu")
    since = dt.datetime(2026, 10, 23, tzinfo=zone)
    volume = kpis.volume_by_day(local_days(since, since + dt.timedelta(days=3), zone), SEVERITIES)
    opened = [sum(day.opened_by_severity.values()) for day in volume]
    assert opened == [2, 1, 4]


def test_periods_must_be_aware_and_ordered(kpis: Kpis) -> None:
    """A naive or empty period is a programming error, reported at once."""
    with pytest.raises(ValueError, match="aware"):
        kpis.mean_times(SINCE.replace(tzinfo=None), UNTIL)
    with pytest.raises(ValueError, match="after"):
        kpis.volume_by_day(local_days(UNTIL, SINCE, BERLIN))
