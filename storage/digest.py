"""The queries behind the stand-up digest: top N per section in SQL, with the section's count.

Lists are ordered and cut in the database (`ORDER BY … LIMIT`, served by an index where the
list can be long), counts come from `count(*)` (only when a page is full: a shorter page is
its own count), so a digest costs the same with ten thousand items as with a hundred.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
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
    reporters: int = 1
    reach: int = 1
    owner_id: str | None = None
    owner_name: str | None = None


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
# The same test with 'resolved' written into the SQL: only then can either database prove the
# partial index `ix_feedback_open` (WHERE state != 'resolved') covers the query. A bound
# parameter hides the value from SQLite's planner and from a PostgreSQL generic plan.
_OPEN_INDEXED = FeedbackRow.state != literal_column(f"'{FeedbackState.RESOLVED.value}'")
_ESCALATION = and_(EscalationRow.item_kind == "feedback", EscalationRow.item_id == FeedbackRow.id)
# What a FeedbackFact is made of, in its field order: columns, not ORM rows, so a list of a
# thousand facts loads no JSON escalation state and builds no identity map.
_FACT_COLUMNS = (
    FeedbackRow.id,
    FeedbackRow.summary,
    FeedbackRow.severity,
    FeedbackRow.category,
    FeedbackRow.created_at,
    FeedbackRow.resolved_at,
    FeedbackRow.receipt_permalink,
    FeedbackRow.ticket_key,
    FeedbackRow.ticket_url,
    FeedbackRow.ticket_status,
    FeedbackRow.acknowledged_by,
    FeedbackRow.acknowledged_at,
    EscalationRow.ack_due,
    EscalationRow.resolve_due,
    FeedbackRow.reporters,
    FeedbackRow.reach,
    FeedbackRow.owner_id,
    FeedbackRow.owner_name,
)


@dataclass(frozen=True)
class Backlog:
    """The open items and those that need a decision, each ranked and cut, and the counts."""

    open: Page
    needs_decision: Page
    open_by_severity: dict[str, int]


class DigestQueries:
    """Reads the sections of a digest."""

    def __init__(self, sessions: sessionmaker[Session], severities: Sequence[str]) -> None:
        self._sessions = sessions
        self._severities = list(severities)
        self._rank = {severity: rank for rank, severity in enumerate(severities)}

    def _severity_rank(self) -> ColumnElement[int]:
        return case(self._rank, value=FeedbackRow.severity, else_=len(self._rank))

    def _feedback(
        self, where: ColumnElement[bool], order: Sequence[SQLColumnExpression[Any]], limit: int
    ) -> Page:
        first = select(FeedbackRow.id).where(where).order_by(*order).limit(limit).subquery()
        with self._sessions() as session:
            facts = _load(session, first, order)
            total = len(facts)
            if total == limit:  # a full page may have more behind it: count them
                counted = select(func.count()).select_from(FeedbackRow).where(where)
                total = int(session.scalar(counted) or 0)
            return Page(facts, total)

    def new(self, since: dt.datetime, until: dt.datetime, limit: int) -> Page:
        """Feedback filed in the period, most severe first."""
        where = and_(FeedbackRow.created_at > since, FeedbackRow.created_at <= until)
        return self._feedback(where, [self._severity_rank(), FeedbackRow.created_at], limit)

    def new_counts(self, since: dt.datetime, until: dt.datetime) -> dict[str, dict[str, int]]:
        """Feedback filed in the period, counted by severity and by category."""
        period = and_(FeedbackRow.created_at > since, FeedbackRow.created_at <= until)
        counts: dict[str, dict[str, int]] = {"severity": {}, "category": {}}
        with self._sessions() as session:
            # One grouped read for both counts: (severity, category) pairs, summed in Python.
            rows = session.execute(
                select(FeedbackRow.severity, FeedbackRow.category, func.count())
                .where(period)
                .group_by(FeedbackRow.severity, FeedbackRow.category)
            ).all()
        for severity, category, n in rows:
            for name, key in (("severity", str(severity)), ("category", str(category))):
                counts[name][key] = counts[name].get(key, 0) + int(n)
        return counts

    def resolved(self, since: dt.datetime, until: dt.datetime, limit: int) -> Page:
        """Feedback resolved in the period, most severe first."""
        where = and_(
            # `state || ''` keeps SQLite (which has no statistics) off ix_feedback_state, which
            # it prefers for an equality and which holds nearly every row; the resolved_at
            # range of ix_feedback_resolved_at selects the period's few.
            FeedbackRow.state.concat("") == FeedbackState.RESOLVED.value,
            FeedbackRow.resolved_at > since,
            FeedbackRow.resolved_at <= until,
        )
        return self._feedback(where, [self._severity_rank(), FeedbackRow.resolved_at], limit)

    def backlog(self, now: dt.datetime, limit: int) -> Backlog:
        """Open feedback, and open feedback someone must decide on (it has no owner, it is
        blocked, or it is past its SLA); both SLA breaches first, then by severity, oldest
        first; with the open items counted by severity.

        Ordering every open row by a CASE over the escalation join sorts the whole backlog,
        twice. The order splits instead: the breached items (only escalating items breach)
        sorted among themselves come first in both lists, since every breached item needs a
        decision; then come the unbreached ones, per severity in rank order and oldest first,
        which `ix_feedback_open` (severity, created_at) hands out in order, so each severity's
        branch stops after `limit` rows. Four statements in one transaction: the counts, the
        breached items, and each list's unbreached rest.
        """
        unowned = and_(FeedbackRow.owner_id.is_(None), FeedbackRow.owner_name.is_(None))
        blocked = func.lower(func.coalesce(FeedbackRow.ticket_status, "")).like("%block%")
        counts = (
            select(
                FeedbackRow.severity,
                func.count(),
                func.count(case((or_(unowned, blocked, _breached(now)), 1))),
            )
            .outerjoin(EscalationRow, _ESCALATION)
            .where(_OPEN_INDEXED)
            .group_by(FeedbackRow.severity)
        )
        order = [self._breach_rank(now), self._severity_rank(), FeedbackRow.created_at]
        breached = (
            select(FeedbackRow.id)
            .join(EscalationRow, _ESCALATION)
            .where(_OPEN_INDEXED, _breached(now))
            .order_by(*order)
            .limit(limit)
            .subquery()
        )
        with self._sessions() as session:
            rows = session.execute(counts).all()
            first = _load(session, breached, order)
            rest = limit - len(first)
            open_rest = self._unbreached(session, now, rest, None)
            decision_rest = self._unbreached(session, now, rest, or_(unowned, blocked))
        by_severity = {str(severity): int(n) for severity, n, _ in rows}
        return Backlog(
            Page(first + open_rest, sum(by_severity.values())),
            Page(first + decision_rest, sum(int(n) for _, _, n in rows)),
            by_severity,
        )

    def _unbreached(
        self,
        session: Session,
        now: dt.datetime,
        limit: int,
        where: ColumnElement[bool] | None,
    ) -> tuple[FeedbackFact, ...]:
        """The first `limit` open, unbreached items matching `where` (all when None), by
        severity rank and then oldest first: one UNION ALL of a branch per severity."""
        if limit <= 0:
            return ()
        branches = []
        known = len(self._severities)
        for rank, severity in [*enumerate(self._severities), (known, None)]:
            of_severity = (
                FeedbackRow.severity == severity
                if severity is not None
                else FeedbackRow.severity.not_in(self._severities)
            )
            branch = (
                select(FeedbackRow.id, FeedbackRow.created_at, literal(rank, Integer).label("rank"))
                .outerjoin(EscalationRow, _ESCALATION)
                .where(_OPEN_INDEXED, of_severity, ~_breached(now))
            )
            if where is not None:
                branch = branch.where(where)
            if severity is not None:
                branch = branch.order_by(FeedbackRow.created_at).limit(limit)
            # Severities the program does not list rank last, together, by age alone. They
            # are rare, and their branch is not ordered: an ORDER BY created_at there makes
            # SQLite walk the whole table by ix_feedback_created_at looking for them, where
            # without it the open index is read and the outer ORDER BY sorts what it finds.
            branches.append(branch)
        # SQLite takes ORDER BY … LIMIT in a compound member only inside a subquery.
        merged = union_all(*(select(*branch.subquery().c) for branch in branches)).subquery()
        order = [merged.c.rank, merged.c.created_at]
        first = select(merged.c.id, *order).order_by(*order).limit(limit).subquery()
        return _load(session, first, [first.c.rank, first.c.created_at])

    def _breach_rank(self, now: dt.datetime) -> ColumnElement[int]:
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

    def alerts(self, since: dt.datetime, until: dt.datetime, limit: int) -> tuple[Page, Page]:
        """Alerts fired in the period, and alerts resolved in it; most recent first."""
        fired = and_(AlertRow.fired_at > since, AlertRow.fired_at <= until)
        resolved = and_(AlertRow.resolved_at > since, AlertRow.resolved_at <= until)
        return self._alerts(fired, AlertRow.fired_at, limit), self._alerts(
            resolved, AlertRow.resolved_at, limit
        )

    def _alerts(self, where: object, newest: object, limit: int) -> Page:
        with self._sessions() as session:
            rows = session.scalars(
                select(AlertRow).where(where).order_by(newest.desc()).limit(limit)  # type: ignore[arg-type, attr-defined]
            ).all()
            total = len(rows)
            if total == limit:  # a full page may have more behind it: count them
                total = session.scalar(select(func.count()).select_from(AlertRow).where(where)) or 0  # type: ignore[arg-type]
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


def _breached(now: dt.datetime) -> ColumnElement[bool]:
    """Past its SLA: resolve-by passed, or acknowledge-by passed unacknowledged (ranks 0 and 1
    of `_breach_rank`), as plain comparisons: the planners estimate those from column
    statistics, where a CASE gets a fixed guess that makes PostgreSQL read and sort every open
    row rather than stop at the LIMIT. Under an outer join without an escalation it is false
    (`id IS NOT NULL` is, and the due columns are NOT NULL), so its negation is true there."""
    return and_(
        EscalationRow.id.is_not(None),
        or_(
            EscalationRow.resolve_due < now,
            and_(EscalationRow.ack_due < now, EscalationRow.acknowledged_at.is_(None)),
        ),
    )


def _load(
    session: Session, first: Subquery, order: Sequence[SQLColumnExpression[Any]]
) -> tuple[FeedbackFact, ...]:
    """The facts of the feedback ids `first` selects (ranked and cut), in `order`.

    The ranking reads only ids and the columns it sorts or filters on, which the indexes hold
    (index-only on PostgreSQL); the wide rows and their escalations are read for the few kept,
    not for every candidate. The escalation join is on its unique (item_kind, item_id), so it
    adds no rows.
    """
    query = (
        select(*_FACT_COLUMNS)
        .join(first, first.c.id == FeedbackRow.id)
        .outerjoin(EscalationRow, _ESCALATION)
        .order_by(*order)
    )
    rows: Sequence[Sequence[Any]] = session.execute(query).all()
    return tuple(FeedbackFact(*row) for row in rows)
