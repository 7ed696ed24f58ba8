"""The queries behind the stand-up digest: top N per section in SQL, with the section's count.

Lists are ordered and cut in the database (`ORDER BY … LIMIT`), counts come from `count(*)`,
so a digest costs the same with ten thousand items as with a hundred.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import FeedbackState
from storage.models import AlertRow, EscalationRow, FeedbackRow


@dataclass(frozen=True)
class FeedbackFact:
    """A feedback row as the digest needs it, with its escalation clocks when it escalates."""

    id: int
    summary: str
    severity: str
    category: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    receipt_permalink: str | None
    ticket_key: str | None
    ticket_url: str | None
    ticket_status: str | None
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    ack_due: dt.datetime | None
    resolve_due: dt.datetime | None


@dataclass(frozen=True)
class AlertFact:
    """An alert as the digest needs it."""

    id: int
    rule_id: str
    scope: dict[str, str]
    severity: str
    fired_at: dt.datetime
    resolved_at: dt.datetime | None
    acknowledged_by: str | None


@dataclass(frozen=True)
class Page:
    """Up to `limit` facts of a section, and how many there are in all."""

    facts: tuple[FeedbackFact, ...] | tuple[AlertFact, ...]
    total: int


_OPEN = FeedbackRow.state != FeedbackState.RESOLVED.value


class DigestQueries:
    """Reads the sections of a digest."""

    def __init__(self, sessions: sessionmaker[Session], severities: Sequence[str]) -> None:
        self._sessions = sessions
        self._rank = {severity: rank for rank, severity in enumerate(severities)}

    def _severity_rank(self) -> object:
        return case(self._rank, value=FeedbackRow.severity, else_=len(self._rank))

    def _feedback(self, where: object, order: Sequence[object], limit: int) -> Page:
        query = (
            select(FeedbackRow, EscalationRow)
            .outerjoin(
                EscalationRow,
                and_(
                    EscalationRow.item_kind == "feedback", EscalationRow.item_id == FeedbackRow.id
                ),
            )
            .where(where)  # type: ignore[arg-type]
        )
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(*order).limit(limit)).all()  # type: ignore[arg-type]
            return Page(tuple(_fact(row[0], row[1]) for row in rows), int(total))

    def new(self, since: dt.datetime, until: dt.datetime, limit: int) -> Page:
        """Feedback filed in the period, most severe first."""
        where = and_(FeedbackRow.created_at > since, FeedbackRow.created_at <= until)
        return self._feedback(where, [self._severity_rank(), FeedbackRow.created_at], limit)

    def new_counts(self, since: dt.datetime, until: dt.datetime) -> dict[str, dict[str, int]]:
        """Feedback filed in the period, counted by severity and by category."""
        period = and_(FeedbackRow.created_at > since, FeedbackRow.created_at <= until)
        counts: dict[str, dict[str, int]] = {"severity": {}, "category": {}}
        with self._sessions() as session:
            for name, column in (
                ("severity", FeedbackRow.severity),
                ("category", FeedbackRow.category),
            ):
                rows = session.execute(
                    select(column, func.count()).where(period).group_by(column)
                ).all()
                counts[name] = {str(key): int(n) for key, n in rows}
        return counts

    def resolved(self, since: dt.datetime, until: dt.datetime, limit: int) -> Page:
        """Feedback resolved in the period, most severe first."""
        where = and_(
            FeedbackRow.state == FeedbackState.RESOLVED.value,
            FeedbackRow.resolved_at > since,
            FeedbackRow.resolved_at <= until,
        )
        return self._feedback(where, [self._severity_rank(), FeedbackRow.resolved_at], limit)

    def open(self, now: dt.datetime, limit: int) -> Page:
        """Open feedback: SLA breaches first, then by severity, oldest first."""
        return self._feedback(
            _OPEN, [self._breach_rank(now), self._severity_rank(), FeedbackRow.created_at], limit
        )

    def open_counts(self) -> dict[str, int]:
        """Open feedback by severity."""
        with self._sessions() as session:
            rows = session.execute(
                select(FeedbackRow.severity, func.count())
                .where(_OPEN)
                .group_by(FeedbackRow.severity)
            ).all()
            return {str(severity): int(n) for severity, n in rows}

    def _breach_rank(self, now: dt.datetime) -> object:
        return case(
            (EscalationRow.resolve_due < now, 0),
            (and_(EscalationRow.ack_due < now, EscalationRow.acknowledged_at.is_(None)), 1),
            else_=2,
        )

    def reported_by(self, user: str, limit: int) -> Page:
        """One person's feedback: open first, newest first."""
        return self._feedback(
            FeedbackRow.reporter_id == user,
            [case((_OPEN, 0), else_=1), FeedbackRow.created_at.desc()],
            limit,
        )

    def needs_decision(self, now: dt.datetime, limit: int) -> Page:
        """Open feedback someone must decide on: nobody owns it, it is blocked, or past its SLA."""
        unowned = and_(FeedbackRow.ticket_key.is_(None), FeedbackRow.acknowledged_by.is_(None))
        blocked = func.lower(func.coalesce(FeedbackRow.ticket_status, "")).like("%block%")
        breached = or_(
            EscalationRow.resolve_due < now,
            and_(EscalationRow.ack_due < now, EscalationRow.acknowledged_at.is_(None)),
        )
        where = and_(_OPEN, or_(unowned, blocked, breached))
        return self._feedback(
            where, [self._breach_rank(now), self._severity_rank(), FeedbackRow.created_at], limit
        )

    def alerts(self, since: dt.datetime, until: dt.datetime, limit: int) -> tuple[Page, Page]:
        """Alerts fired in the period, and alerts resolved in it; most recent first."""
        fired = and_(AlertRow.fired_at > since, AlertRow.fired_at <= until)
        resolved = and_(AlertRow.resolved_at > since, AlertRow.resolved_at <= until)
        return self._alerts(fired, AlertRow.fired_at, limit), self._alerts(
            resolved, AlertRow.resolved_at, limit
        )

    def _alerts(self, where: object, newest: object, limit: int) -> Page:
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(AlertRow).where(where)) or 0  # type: ignore[arg-type]
            rows = session.scalars(
                select(AlertRow).where(where).order_by(newest.desc()).limit(limit)  # type: ignore[arg-type, attr-defined]
            ).all()
            facts = tuple(
                AlertFact(
                    r.id,
                    r.rule_id,
                    dict(r.scope),
                    r.severity,
                    r.fired_at,
                    r.resolved_at,
                    r.acknowledged_by,
                )
                for r in rows
            )
            return Page(facts, int(total))

    def escalations(
        self, since: dt.datetime, until: dt.datetime
    ) -> list[tuple[str, str, int, str | None, float | None, int]]:
        """Escalations started in the period: (kind, severity, item id, who acknowledged,
        seconds to acknowledge, SLA breaches), acknowledged ones first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.started_at > since, EscalationRow.started_at <= until)
                .order_by(EscalationRow.started_at)
                .limit(200)
            ).all()
            return [
                (
                    r.item_kind,
                    r.severity,
                    r.item_id,
                    r.acknowledged_by,
                    (r.acknowledged_at - r.started_at).total_seconds()
                    if r.acknowledged_at
                    else None,
                    r.breaches,
                )
                for r in rows
            ]

    def breaches(self, since: dt.datetime, until: dt.datetime) -> int:
        """SLA breaches (resolve-by passed unresolved) that happened in the period."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(EscalationRow)
                    .where(
                        EscalationRow.sla_breached_at > since,
                        EscalationRow.sla_breached_at <= until,
                    )
                )
                or 0
            )


def _fact(row: FeedbackRow, escalation: EscalationRow | None) -> FeedbackFact:
    return FeedbackFact(
        id=row.id,
        summary=row.summary,
        severity=row.severity,
        category=row.category,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        receipt_permalink=row.receipt_permalink,
        ticket_key=row.ticket_key,
        ticket_url=row.ticket_url,
        ticket_status=row.ticket_status,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        ack_due=escalation.ack_due if escalation else None,
        resolve_due=escalation.resolve_due if escalation else None,
    )
