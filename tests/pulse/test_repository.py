"""The pulse repository on both databases: one answer per person per pulse, closed pulses take
nothing, a newer pulse closes the older, and the read API's periods and weeks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.domain import Pulse, PulseAudience
from storage import db
from storage.pulse import NewPulse, PulseRepository, Vote

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.datetime(2026, 10, 19, 8, 0, tzinfo=dt.UTC)  # 10:00 Berlin, the week before DST ends


def repository(database_url: str) -> PulseRepository:
    engine = db.make_engine(database_url)
    db.migrate(engine)
    return PulseRepository(db.make_sessions(engine))


def new(key: str, at: dt.datetime, days: int = 7) -> NewPulse:
    return NewPulse(
        key=key,
        question="Happy?",
        audience=PulseAudience.CHANNEL,
        channel_id="C0PULSE",
        recipients=(),
        created_by=None,
        created_at=at,
        closes_at=at + dt.timedelta(days=days),
    )


def test_one_answer_per_person_and_closed_pulses_take_nothing(database_url: str) -> None:
    """A key is taken once; a second vote updates (keeping the comment), a newer pulse closes
    the older one, and a vote on a closed or unknown pulse stores nothing."""
    repo = repository(database_url)
    first = repo.create(new("scheduled:2026-10-19", MONDAY), lambda pulse: [])
    assert first is not None and repo.exists("scheduled:2026-10-19")
    assert repo.create(new("scheduled:2026-10-19", MONDAY), lambda pulse: []) is None
    later = MONDAY + dt.timedelta(hours=1)
    voted = repo.vote(first.id, "U0ALICE", 2, later, "Slow search")
    assert isinstance(voted, Vote) and voted.previous is None
    changed = repo.vote(first.id, "U0ALICE", 5, later + dt.timedelta(minutes=1))
    assert isinstance(changed, Vote) and changed.previous == 2
    assert (changed.answer.score, changed.answer.comment) == (5, "Slow search")
    assert changed.answer.answered_at == later  # the first answer's time is kept
    assert repo.vote(999, "U0ALICE", 3, later) is None
    second = repo.create(new("now:x", MONDAY + dt.timedelta(days=2)), lambda pulse: [])
    assert second is not None
    closed = repo.vote(first.id, "U0BOB", 4, MONDAY + dt.timedelta(days=2, seconds=1))
    assert isinstance(closed, Pulse) and not closed.is_open(MONDAY + dt.timedelta(days=2))
    assert repo.answer(first.id, "U0BOB") is None
    assert repo.latest() == second


def test_periods_and_weeks_follow_local_midnights_across_a_dst_change(database_url: str) -> None:
    """Satisfaction counts answers first given in (start, end]; weeks from a local midnight
    start at local midnights, the clocks going back on 25 Oct included."""
    repo = repository(database_url)
    pulse = repo.create(new("scheduled:2026-10-19", MONDAY, days=14), lambda p: [])
    assert pulse is not None
    monday_26 = dt.datetime(2026, 10, 26, tzinfo=BERLIN)  # 23:00 UTC on the 25th, after DST
    answers = [
        ("U1", 5, MONDAY),  # the pulse's first second
        ("U2", 4, monday_26 - dt.timedelta(seconds=1)),  # Sunday 23:59:59 local: week one
        ("U3", 1, monday_26 + dt.timedelta(seconds=1)),  # Monday 00:00:01 local: week two
        ("U4", 3, monday_26 + dt.timedelta(days=2)),
    ]
    for user, score, at in answers:
        assert isinstance(repo.vote(pulse.id, user, score, at), Vote)
    start = dt.datetime(2026, 10, 19, tzinfo=BERLIN)
    whole = repo.satisfaction(start, start + dt.timedelta(days=14))
    assert (whole.responses, whole.satisfied, whole.csat_percent, whole.mean) == (4, 2, 50.0, 3.25)
    assert repo.satisfaction(MONDAY, monday_26).responses == 1  # (start, end]: U1 is out
    weeks = repo.weekly_satisfaction(start, start + dt.timedelta(days=14))
    assert [(w.week_start, w.responses, w.csat_percent, w.mean) for w in weeks] == [
        (dt.date(2026, 10, 19), 2, 100.0, 4.5),
        (dt.date(2026, 10, 26), 2, 0.0, 2.0),
    ]
    assert repo.weekly_satisfaction(start, start) == []
    empty = repo.weekly_satisfaction(start + dt.timedelta(days=14), start + dt.timedelta(days=21))
    assert [(w.responses, w.csat_percent, w.mean) for w in empty] == [(0, None, None)]
