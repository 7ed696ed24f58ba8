"""Alerts and the rule engine's memory, stored so a restart continues where it stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import Alert, Effect
from storage.db import among
from storage.models import AlertEngineStateRow, AlertRow, MetricHourRow
from storage.repositories import queue_effects

EffectsFor = Callable[[Alert], Sequence[Effect]]


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        scope=tuple(sorted((str(k), str(v)) for k, v in row.scope.items())),
        source_id=row.source_id,
        severity=row.severity,
        channel_id=row.channel_id,
        state=row.state,
        value=row.value,
        threshold=row.threshold,
        unit=row.unit,
        since=row.since,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        message_ts=row.message_ts,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        ticket_key=row.ticket_key,
        ticket_url=row.ticket_url,
    )


class AlertRepository:
    """Stores alerts and the engine state; every change queues its Slack effects atomically."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def open(self, alert: Alert, now: dt.datetime, effects: EffectsFor) -> Alert:
        """Store a newly firing alert (its id is assigned here) and queue its announcement."""
        with self._sessions.begin() as session:
            row = AlertRow(
                rule_id=alert.rule_id,
                scope=dict(alert.scope),
                source_id=alert.source_id,
                severity=alert.severity,
                channel_id=alert.channel_id,
                state="firing",
                value=alert.value,
                threshold=alert.threshold,
                unit=alert.unit,
                since=alert.since,
                fired_at=alert.fired_at,
            )
            session.add(row)
            session.flush()
            stored = _alert(row)
            queue_effects(session, effects(stored), now)
            return stored

    def _firing_row(self, session: Session, rule_id: str, scope: dict[str, str]) -> AlertRow | None:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.rule_id == rule_id, AlertRow.state == "firing")
            .with_for_update()
        )
        return next((r for r in rows if r.scope == scope), None)

    def firing(self, rule_id: str, scope: Sequence[tuple[str, str]]) -> Alert | None:
        """Return the firing alert of a rule and scope, if any."""
        with self._sessions() as session:
            row = self._firing_row(session, rule_id, dict(scope))
            return _alert(row) if row else None

    def update_value(
        self, alert_id: int, value: float, now: dt.datetime, effects: EffectsFor
    ) -> Alert:
        """Record a firing alert's latest value and queue a reminder."""
        with self._sessions.begin() as session:
            row = session.get_one(AlertRow, alert_id, with_for_update=True)
            row.value = value
            stored = _alert(row)
            queue_effects(session, effects(stored), now)
            return stored

    def resolve(
        self,
        rule_id: str,
        scope: Sequence[tuple[str, str]],
        value: float,
        at: dt.datetime,
        effects: EffectsFor,
    ) -> Alert | None:
        """Mark a firing alert resolved and queue its resolution; None when none was firing."""
        with self._sessions.begin() as session:
            row = self._firing_row(session, rule_id, dict(scope))
            if row is None:
                return None
            row.state, row.value, row.resolved_at = "resolved", value, at
            stored = _alert(row)
            queue_effects(session, effects(stored), at)
            return stored

    def acknowledge(
        self, alert_id: int, user: str, now: dt.datetime, effects: EffectsFor
    ) -> Alert | None:
        """Record the first acknowledgement of an alert; None if unknown or already acknowledged."""
        with self._sessions.begin() as session:
            row = session.get(AlertRow, alert_id, with_for_update=True)
            if row is None or row.acknowledged_by is not None:
                return None
            row.acknowledged_by, row.acknowledged_at = user, now
            stored = _alert(row)
            queue_effects(session, effects(stored), now)
            return stored

    def record_ticket(
        self, alert_id: int, key: str, url: str, now: dt.datetime, effects: EffectsFor
    ) -> Alert:
        """Link a Jira issue to an alert and queue its announcements."""
        with self._sessions.begin() as session:
            row = session.get_one(AlertRow, alert_id, with_for_update=True)
            row.ticket_key, row.ticket_url = key, url
            stored = _alert(row)
            queue_effects(session, effects(stored), now)
            return stored

    def record_duplicates(
        self,
        alert_id: int,
        keeper: tuple[str, str],
        duplicates: Sequence[str],
        now: dt.datetime,
        effects: EffectsFor,
    ) -> Alert:
        """Make `keeper` (key, url) the alert's issue if it has one of `duplicates`, and queue
        what closes the duplicates; the row lock serialises replicas doing the same."""
        with self._sessions.begin() as session:
            row = session.get_one(AlertRow, alert_id, with_for_update=True)
            if row.ticket_key in duplicates:
                row.ticket_key, row.ticket_url = keeper
            stored = _alert(row)
            queue_effects(session, effects(stored), now)
            return stored

    def get(self, alert_id: int) -> Alert | None:
        """Return one alert."""
        with self._sessions() as session:
            row = session.get(AlertRow, alert_id)
            return _alert(row) if row else None

    def get_many(self, alert_ids: Collection[int]) -> dict[int, Alert]:
        """The alerts with these ids (the ones that exist), in one query."""
        with self._sessions() as session:
            rows = session.scalars(select(AlertRow).where(among(session, AlertRow.id, alert_ids)))
            return {row.id: _alert(row) for row in rows}

    def record_message(self, alert_id: int, ts: str) -> None:
        """Remember the alert's message, which its repeats and resolution thread under."""
        with self._sessions.begin() as session:
            session.get_one(AlertRow, alert_id).message_ts = ts

    def all(self) -> list[Alert]:
        """Every alert, oldest first."""
        with self._sessions() as session:
            return [_alert(r) for r in session.scalars(select(AlertRow).order_by(AlertRow.id))]

    def queue(self, effects: Sequence[Effect], now: dt.datetime) -> None:
        """Queue effects that belong to no alert row (source down/recovered notices)."""
        with self._sessions.begin() as session:
            queue_effects(session, effects, now)

    def save_state(self, name: str, record: dict[str, Any], now: dt.datetime) -> None:
        """Keep the engine's memory (alert book, source health) for the next start."""
        with self._sessions.begin() as session:
            row = session.get(AlertEngineStateRow, name, with_for_update=True)
            if row is None:
                session.add(AlertEngineStateRow(name=name, record=record, updated_at=now))
            else:
                row.record, row.updated_at = record, now

    def record_hour(
        self, rule_id: str, source_id: str, unit: str, value: float, now: dt.datetime
    ) -> None:
        """Add one observed value to its rule's hour (for daily error rate and latency)."""
        hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        with self._sessions.begin() as session:
            row = session.scalar(
                select(MetricHourRow)
                .where(MetricHourRow.rule_id == rule_id, MetricHourRow.hour == hour)
                .with_for_update()
            )
            if row is None:
                session.add(
                    MetricHourRow(
                        rule_id=rule_id,
                        source_id=source_id,
                        unit=unit,
                        hour=hour,
                        samples=1,
                        total=value,
                        worst=value,
                    )
                )
            else:
                row.samples += 1
                row.total += value
                row.worst = max(row.worst, value)

    def load_state(self, name: str) -> dict[str, Any] | None:
        """Return the engine memory saved under a name."""
        with self._sessions() as session:
            row = session.get(AlertEngineStateRow, name)
            return dict(row.record) if row else None
