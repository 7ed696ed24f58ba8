"""The queries the weekly review adds to the KPIs: recurring themes, breaches, daily metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import LocalDays
from storage.models import EscalationRow, FeedbackRow, MetricHourRow
from storage.sqltime import local_day_index


@dataclass(frozen=True)
class Breach:
    """An item whose resolve-by clock ran out in the period."""

    feedback_id: int | None  # None for an alert
    alert_id: int | None
    severity: str
    breached_at: dt.datetime
    summary: str
    link: str | None


class WeeklyQueries:
    """Reads what only the weekly review shows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def themes(
        self, since: dt.datetime, until: dt.datetime, limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The components and categories with the most reports in the period, most first."""
        period = and_(FeedbackRow.created_at > since, FeedbackRow.created_at <= until)
        themes: dict[str, list[tuple[str, int]]] = {}
        with self._sessions() as session:
            for name, column in (
                ("component", FeedbackRow.component),
                ("category", FeedbackRow.category),
            ):
                count = func.count().label("n")
                rows = session.execute(
                    select(column, count)
                    .where(period)
                    .group_by(column)
                    .order_by(count.desc(), column)
                    .limit(limit)
                ).all()
                themes[name] = [(str(key), int(n)) for key, n in rows]
        return themes

    def breaches(self, since: dt.datetime, until: dt.datetime, limit: int) -> list[Breach]:
        """Items whose resolve-by clock ran out in the period, oldest breach first."""
        with self._sessions() as session:
            rows = session.execute(
                select(EscalationRow, FeedbackRow)
                .outerjoin(
                    FeedbackRow,
                    and_(
                        EscalationRow.item_kind == "feedback",
                        FeedbackRow.id == EscalationRow.item_id,
                    ),
                )
                .where(
                    EscalationRow.sla_breached_at > since,
                    EscalationRow.sla_breached_at <= until,
                )
                .order_by(EscalationRow.sla_breached_at)
                .limit(limit)
            ).all()
            breaches = []
            for escalation, feedback in rows:
                assert escalation.sla_breached_at is not None
                is_feedback = escalation.item_kind == "feedback"
                breaches.append(
                    Breach(
                        feedback_id=escalation.item_id if is_feedback else None,
                        alert_id=None if is_feedback else escalation.item_id,
                        severity=escalation.severity,
                        breached_at=escalation.sla_breached_at,
                        summary=feedback.summary if feedback is not None else "",
                        link=feedback.receipt_permalink if feedback is not None else None,
                    )
                )
            return breaches

    def metric_days(
        self, days: LocalDays, unit: str
    ) -> tuple[tuple[dt.date, ...], dict[str, tuple[float | None, ...]]]:
        """Per local day and source, the mean of the rules' observed values in `unit`.

        Error rates (`ratio`) and latencies (`ms`) come from gateway alerting's hourly table;
        a day without samples is None (a gap in the chart, not a zero).
        """
        since, until = days.since, days.until
        index = local_day_index(MetricHourRow.hour, days.starts).label("day")
        with self._sessions() as session:
            rows = session.execute(
                select(
                    MetricHourRow.source_id,
                    index,
                    func.sum(MetricHourRow.total),
                    func.sum(MetricHourRow.samples),
                )
                .where(
                    MetricHourRow.unit == unit,
                    MetricHourRow.hour >= since,
                    MetricHourRow.hour < until,
                )
                .group_by(MetricHourRow.source_id, index)
            ).all()
        sums: dict[str, list[float | None]] = {}
        for source, day, total, samples in rows:
            values = sums.setdefault(str(source), [None] * len(days.days))
            if samples:
                values[int(day)] = float(total) / int(samples)
        return days.days, {source: tuple(values) for source, values in sorted(sums.items())}
