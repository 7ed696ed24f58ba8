"""Carrying out alert announcements the outbox hands over: posts, reminders, resolutions, notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from bot.alerts.engine.alerting import SourceEvent, SourceEventKind
from bot.alerts.engine.model import FailureKind
from bot.alerts.service import NOTE, POST, REFRESH, REPEAT, RESOLVED, SOURCE_NOTICE
from bot.domain import Alert, AlertNote, Effect
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.ports import AlertNotifier
from storage.alerts import AlertRepository


class AlertAnnouncer:
    """Turns queued alert effects into Slack messages through the notifier."""

    def __init__(
        self,
        *,
        repo: AlertRepository,
        notifier: AlertNotifier,
        silenced_until: Callable[[Alert], dt.datetime | None],
    ) -> None:
        self._repo = repo
        self._notifier = notifier
        self._silenced_until = silenced_until

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            POST: self._post,
            REPEAT: self._repeat,
            RESOLVED: self._resolved,
            SOURCE_NOTICE: self._source_notice,
            REFRESH: self._refresh,
            NOTE: self._note,
        }

    def _refresh(self, payload: dict[str, object]) -> Sequence[Effect]:
        alert = self._posted(payload)
        self._notifier.refresh_alert(alert, self._silenced_until(alert))
        return []

    def _note(self, payload: dict[str, object]) -> Sequence[Effect]:
        until = payload.get("until")
        note = AlertNote(
            str(payload["kind"]),
            str(payload["by"]),
            dt.datetime.fromisoformat(until) if isinstance(until, str) else None,
            str(payload.get("reason") or ""),
        )
        self._notifier.alert_note(self._posted(payload), note)
        return []

    def _alert(self, payload: dict[str, object]) -> Alert:
        alert_id = payload.get("alert_id")
        alert = self._repo.get(alert_id) if isinstance(alert_id, int) else None
        if alert is None:
            raise DeliveryRefused(f"alert {alert_id!r} does not exist")
        return alert

    def _posted(self, payload: dict[str, object]) -> Alert:
        alert = self._alert(payload)
        if alert.message_ts is None:
            raise DeliveryDeferred("the alert message is not posted yet", 1.0, waiting=True)
        return alert

    def _post(self, payload: dict[str, object]) -> Sequence[Effect]:
        alert = self._alert(payload)
        if alert.message_ts is None:
            posted = self._notifier.post_alert(alert)
            self._repo.record_message(alert.id, posted.ts)
        return []

    def _repeat(self, payload: dict[str, object]) -> Sequence[Effect]:
        alert = self._posted(payload)
        if alert.state == "firing":
            self._notifier.alert_repeat(alert)
        return []

    def _resolved(self, payload: dict[str, object]) -> Sequence[Effect]:
        self._notifier.alert_resolved(self._posted(payload))
        return []

    def _source_notice(self, payload: dict[str, object]) -> Sequence[Effect]:
        event = SourceEvent(
            kind=SourceEventKind(str(payload["kind"])),
            source_id=str(payload["source_id"]),
            at=dt.datetime.fromisoformat(str(payload["at"])),
            failing_since=dt.datetime.fromisoformat(str(payload["failing_since"])),
            failure=FailureKind(str(payload["failure"])),
            consecutive_failures=int(str(payload["consecutive_failures"])),
        )
        self._notifier.source_notice(str(payload["channel"]), event)
        return []
