"""Hypercare KPIs (MTTA, MTTR, volume, backlog, breaches, alert time), computed in the database.

Every figure is an aggregate (`count`, `avg`, `sum`, `max` with `GROUP BY`), so its cost grows
with the rows an index range selects, never with rows loaded into Python; a per-day series
costs the same two grouped queries for 7 days as for 90. Periods are half-open,
`[since, until)`, so back-to-back periods never count an event twice. What differs between
SQLite and PostgreSQL (seconds between two timestamps, the local day of one) lives in
`storage.sqltime`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ScalarSelect,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    func,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import LocalDays, MeanTimes
from storage.models import AlertRow, EscalationRow, FeedbackRow
from storage.sqltime import Timestamp, at, local_day_index, seconds_between


@dataclass(frozen=True)
class DayCount:
    """Feedback opened and resolved on one local day."""

    day: dt.date
    opened_by_severity: Mapping[str, int]
    resolved_by_severity: Mapping[str, int]


@dataclass(frozen=True)
class DayBacklog:
    """Feedback still open at the end of one local day (or at `until`, for the last day)."""

    day: dt.date
    open_by_severity: Mapping[str, int]


class RuleFiring(NamedTuple):
    """How often a rule fired in a period and how long it fired within it, in seconds."""

    rule_id: str
    fired: int
    total_seconds: float


@dataclass(frozen=True)
class AlertStats:
    """Alerts fired in a period: how many resolved by its end, and for how long they fired."""

    fired: int
    resolved: int
    still_firing: int
    mean_duration_seconds: float | None  # of those resolved within the period
    by_rule: tuple[RuleFiring, ...]  # longest total firing time first


NONE: tuple[int, float | None] = (0, None)  # no item: a count of 0, no mean


def _check(since: dt.datetime, until: dt.datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        raise ValueError("until must be after since")


def _keys(severities: Sequence[str], seen: Iterable[str]) -> list[str]:
    """The given severities in order, then any other found in the data, sorted."""
    return [*severities, *sorted(set(seen) - set(severities))]


class Kpis:
    """Reads hypercare KPIs; every method is one short read-only transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _by_severity(self, query: Select[str, int]) -> dict[str, int]:
        with self._sessions() as session:
            return {row[0]: int(row[1]) for row in session.execute(query)}

    def _count(self, query: Select[int]) -> int:
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def mean_times(self, since: dt.datetime, until: dt.datetime) -> dict[str, MeanTimes]:
        """MTTA of escalations acknowledged, MTTR of feedback resolved in the period."""
        _check(since, until)
        e, f = EscalationRow, FeedbackRow
        acks = (
            select(
                e.severity, func.count(), func.avg(seconds_between(e.started_at, e.acknowledged_at))
            )
            .where(e.acknowledged_at >= since, e.acknowledged_at < until)
            .group_by(e.severity)
        )
        fixes = (
            select(f.severity, func.count(), func.avg(seconds_between(f.created_at, f.resolved_at)))
            .where(f.resolved_at >= since, f.resolved_at < until)
            .group_by(f.severity)
        )
        with self._sessions() as session:
            acked = {row[0]: (int(row[1]), _float(row[2])) for row in session.execute(acks)}
            fixed = {row[0]: (int(row[1]), _float(row[2])) for row in session.execute(fixes)}
        times = {}
        for severity in sorted(acked.keys() | fixed.keys()):
            (acks_n, mtta), (fixes_n, mttr) = acked.get(severity, NONE), fixed.get(severity, NONE)
            times[severity] = MeanTimes(mtta, mttr, acks_n, fixes_n)
        return times

    def opened(self, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
        """Feedback created in the period, by severity."""
        _check(since, until)
        query = (
            select(FeedbackRow.severity, func.count())
            .where(FeedbackRow.created_at >= since, FeedbackRow.created_at < until)
            .group_by(FeedbackRow.severity)
        )
        return self._by_severity(query)

    def _per_day(
        self,
        session: Session,
        column: Timestamp,
        days: LocalDays,
        severity: SQLColumnExpression[str] = FeedbackRow.severity,
    ) -> dict[tuple[int, str], int]:
        # The CASE is computed in a subquery and grouped outside: PostgreSQL would not accept
        # GROUP BY on an expression whose bound parameters differ from the SELECT's copy.
        inner = (
            select(local_day_index(column, days.starts).label("day"), severity.label("severity"))
            .where(column >= days.since, column < days.until)
            .subquery()
        )
        query = select(inner.c.day, inner.c.severity, func.count()).group_by(
            inner.c.day, inner.c.severity
        )
        return {(int(row[0]), row[1]): int(row[2]) for row in session.execute(query)}

    def volume_by_day(self, days: LocalDays, severities: Sequence[str] = ()) -> list[DayCount]:
        """Feedback opened and resolved per local day; every day and severity is present."""
        _check(days.since, days.until)
        with self._sessions() as session:
            opened = self._per_day(session, FeedbackRow.created_at, days)
            fixed = self._per_day(session, FeedbackRow.resolved_at, days)
        keys = _keys(severities, [key[1] for key in opened.keys() | fixed.keys()])
        return [
            DayCount(
                day,
                {key: opened.get((index, key), 0) for key in keys},
                {key: fixed.get((index, key), 0) for key in keys},
            )
            for index, day in enumerate(days.days)
        ]

    def open_backlog_by_day(
        self, days: LocalDays, severities: Sequence[str] = ()
    ) -> list[DayBacklog]:
        """Feedback open at the end of each local day: just before next midnight (or `until`).

        Open at an instant t means created before t and not resolved before t. It is counted
        as the backlog at `since` plus the day-by-day opened minus resolved, which holds
        because an item is resolved after it is created; it costs the two per-day queries of
        `volume_by_day` and one count, whatever the number of days.
        """
        running = self._open_by_severity(days.since, just_before=True)
        volume = self.volume_by_day(days, _keys(severities, running))
        backlog = []
        for day in volume:
            for key in day.opened_by_severity:
                running[key] = (
                    running.get(key, 0)
                    + day.opened_by_severity[key]
                    - day.resolved_by_severity[key]
                )
            backlog.append(
                DayBacklog(day.day, {key: running[key] for key in day.opened_by_severity})
            )
        return backlog

    def _open_by_severity(
        self, now: dt.datetime, *, alerts: bool = False, just_before: bool = False
    ) -> dict[str, int]:
        severity = AlertRow.severity if alerts else FeedbackRow.severity
        rows = _open_rows([severity], now, alerts=alerts, just_before=just_before)
        return self._by_severity(select(rows.c.severity, func.count()).group_by(rows.c.severity))

    def open_counts(self, now: dt.datetime) -> dict[str, int]:
        """Feedback open at `now` (created by then, not resolved by then), by severity."""
        return self._open_by_severity(now)

    def critical_open(self, now: dt.datetime, severities: Collection[str]) -> int:
        """Open feedback plus firing alerts of the given (critical) severities at `now`.

        Counted per severity and summed here: a `severity IN (…)` filter would steer SQLite's
        planner to the severity index and every row of the severity instead of the open ones.
        """
        feedback, alerts = self._open_by_severity(now), self._open_by_severity(now, alerts=True)
        return sum(feedback.get(key, 0) + alerts.get(key, 0) for key in set(severities))

    def breaches_by_severity(self, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
        """Escalations whose SLA was breached in the period, by severity.

        An escalation row keeps only its latest breach (`sla_breached_at`), so an item
        re-escalated by a lead and breached again counts once, in the period of the later one.
        """
        _check(since, until)
        e = EscalationRow
        query = (
            select(e.severity, func.count())
            .where(e.sla_breached_at >= since, e.sla_breached_at < until)
            .group_by(e.severity)
        )
        return self._by_severity(query)

    def breaches_by_day(self, days: LocalDays) -> list[dict[str, int]]:
        """`breaches_by_severity` per local day (or per bucket of `days`: a week), in one
        grouped query; a day without breaches is an empty mapping."""
        _check(days.since, days.until)
        e = EscalationRow
        with self._sessions() as session:
            counts = self._per_day(session, e.sla_breached_at, days, e.severity)
        return [
            {key: n for (day, key), n in sorted(counts.items()) if day == index}
            for index in range(len(days.days))
        ]

    def mean_times_by_day(self, days: LocalDays) -> list[dict[str, MeanTimes]]:
        """`mean_times` per local day (or per bucket of `days`: a week), every day present.

        An acknowledgement counts on the day it happened, a resolution on its day, as
        `mean_times` of that day alone would count them; two grouped queries whatever the
        number of days.
        """
        _check(days.since, days.until)
        e, f = EscalationRow, FeedbackRow
        with self._sessions() as session:
            acked = self._mean_per_day(
                session,
                e.acknowledged_at,
                e.severity,
                seconds_between(e.started_at, e.acknowledged_at),
                days,
            )
            fixed = self._mean_per_day(
                session,
                f.resolved_at,
                f.severity,
                seconds_between(f.created_at, f.resolved_at),
                days,
            )
        result = []
        for index in range(len(days.days)):
            times = {}
            keys = {key for day, key in acked.keys() | fixed.keys() if day == index}
            for severity in sorted(keys):
                acks_n, mtta = acked.get((index, severity), NONE)
                fixes_n, mttr = fixed.get((index, severity), NONE)
                times[severity] = MeanTimes(mtta, mttr, acks_n, fixes_n)
            result.append(times)
        return result

    def _mean_per_day(
        self,
        session: Session,
        column: Timestamp,
        severity: SQLColumnExpression[str],
        seconds: SQLColumnExpression[float],
        days: LocalDays,
    ) -> dict[tuple[int, str], tuple[int, float | None]]:
        """(count, mean seconds) per (day index, severity) of rows whose `column` is in `days`."""
        inner = (  # grouped outside, for PostgreSQL, as in `_per_day`
            select(
                local_day_index(column, days.starts).label("day"),
                severity.label("severity"),
                seconds.label("seconds"),
            )
            .where(column >= days.since, column < days.until)
            .subquery()
        )
        query = select(
            inner.c.day, inner.c.severity, func.count(), func.avg(inner.c.seconds)
        ).group_by(inner.c.day, inner.c.severity)
        return {
            (int(row[0]), row[1]): (int(row[2]), _float(row[3])) for row in session.execute(query)
        }

    def sla_breaches(self, since: dt.datetime, until: dt.datetime) -> int:
        """Escalations whose SLA was breached in the period."""
        return sum(self.breaches_by_severity(since, until).values())

    def last_breach_at(self) -> dt.datetime | None:
        """The latest SLA breach on record, if any."""
        with self._sessions() as session:
            return session.scalar(select(func.max(EscalationRow.sla_breached_at)))

    def last_open_of_severity(self, severity: str, now: dt.datetime) -> dt.datetime | None:
        """The latest moment an item (feedback or alert) of this severity was open.

        `now` while one is open, else the latest resolution; None if none was ever open.
        Alerts count: a firing sev1 alert is a sev1 incident whether or not anyone filed it.
        """
        if self.critical_open(now, [severity]):
            return now

        def latest(resolved: Timestamp, of: SQLColumnExpression[str]) -> ScalarSelect[Any]:
            # ORDER BY … LIMIT 1: the (severity, resolved_at) index answers with one entry.
            query = select(resolved).where(of == severity, resolved <= now)
            return query.order_by(resolved.desc()).limit(1).scalar_subquery()

        query = select(
            latest(FeedbackRow.resolved_at, FeedbackRow.severity),
            latest(AlertRow.resolved_at, AlertRow.severity),
        )
        with self._sessions() as session:
            row = session.execute(query).one()
        ends = [_utc(value) for value in row if value is not None]
        return max(ends, default=None)

    def alert_stats(self, since: dt.datetime, until: dt.datetime) -> AlertStats:
        """Alerts fired in the period; a still-firing one counts its time up to `until`."""
        _check(since, until)
        a = AlertRow
        done = and_(a.resolved_at.is_not(None), a.resolved_at < until)
        end = case((done, a.resolved_at), else_=at(until))
        query = (
            select(
                a.rule_id,
                func.count(),
                func.sum(case((done, 1), else_=0)),
                func.sum(case((done, seconds_between(a.fired_at, a.resolved_at)), else_=0.0)),
                func.sum(seconds_between(a.fired_at, end)),
            )
            .where(a.fired_at >= since, a.fired_at < until)
            .group_by(a.rule_id)
        )
        with self._sessions() as session:
            rows = [
                (row[0], int(row[1]), int(row[2]), _float(row[3]) or 0.0, _float(row[4]) or 0.0)
                for row in session.execute(query)
            ]
        fired = sum(row[1] for row in rows)
        resolved = sum(row[2] for row in rows)
        resolved_seconds = sum(row[3] for row in rows)
        by_rule = sorted((RuleFiring(r[0], r[1], r[4]) for r in rows), key=lambda r: (-r[2], r[0]))
        return AlertStats(
            fired=fired,
            resolved=resolved,
            still_firing=fired - resolved,
            mean_duration_seconds=resolved_seconds / resolved if resolved else None,
            by_rule=tuple(by_rule),
        )

    def unowned_open(self, now: dt.datetime) -> int:
        """Open feedback without an owner (neither a Jira assignee nor someone who took it)."""
        f = FeedbackRow
        # The two halves of "open" filter on resolved_at alone and everything else is counted
        # in the SELECT: any other test in their WHERE lets a planner pick another index
        # (SQLite: ticket_key or created_at, both nearly the whole table; a join back to the
        # rows by id made PostgreSQL hash the whole table).
        columns = [f.created_at, f.owner_id, f.owner_name]
        rows = union_all(
            select(*columns).where(f.resolved_at.is_(None)),
            select(*columns).where(f.resolved_at > now),
        ).subquery()
        c = rows.c
        nobody = and_(c.created_at <= now, c.owner_id.is_(None), c.owner_name.is_(None))
        return self._count(select(func.coalesce(func.sum(case((nobody, 1), else_=0)), 0)))


def _open_rows(
    columns: Sequence[SQLColumnExpression[Any]],
    now: dt.datetime,
    *,
    alerts: bool = False,
    just_before: bool = False,
) -> Subquery:
    """Feedback (or alerts) open at `now`: never resolved, or resolved after `now`.

    The two halves are read with `UNION ALL`: each is then one range of a resolved_at index,
    whereas `resolved_at IS NULL OR resolved_at > now` makes SQLite scan the whole table (its
    planner does not split an OR on one column). `just_before` is the state an instant
    earlier: created before `now`, resolved at or after it.
    """
    began = AlertRow.fired_at if alerts else FeedbackRow.created_at
    resolved = AlertRow.resolved_at if alerts else FeedbackRow.resolved_at
    created = began < now if just_before else began <= now
    later = resolved >= now if just_before else resolved > now
    halves = (and_(resolved.is_(None), created), and_(later, created))
    return union_all(*(select(*columns).where(half) for half in halves)).subquery()


def _float(value: Any) -> float | None:
    """An aggregate as a float (PostgreSQL returns `numeric` as Decimal); None stays None."""
    return None if value is None else float(value)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
