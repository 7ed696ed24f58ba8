"""Watching the gateway: poll sources, evaluate rules, and turn alert events into Slack effects.

The rule engine (`bot.metrics`) is pure; this service feeds it scrapes, keeps its memory in the
database, and queues every announcement in the outbox so Slack being slow loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bot.domain import Alert, Effect
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.metrics.alerting import (
    AlertBook,
    AlertEvent,
    AlertEventKind,
    SourceEvent,
    SourceEventKind,
    SourceHealth,
)
from bot.metrics.model import FailureKind, Scrape
from bot.metrics.rates import history_to_keep
from bot.metrics.rules import ErrorRateQuery, Rule, TrafficQuery, evaluate, required_history
from bot.metrics.sources import MetricSource
from bot.ports import Clock, PostedMessage
from storage.alerts import AlertRepository

log = logging.getLogger(__name__)

POST = "alert.post"
REPEAT = "alert.repeat"
RESOLVED = "alert.resolved"
SOURCE_NOTICE = "alert.source_notice"
BOOK = "alert-book"


class AlertNotifier(Protocol):
    """Tells the team about alerts (implemented by the Slack notifier)."""

    def post_alert(self, alert: Alert) -> PostedMessage:
        """Post a firing alert to its channel."""
        ...

    def alert_repeat(self, alert: Alert) -> None:
        """Remind, in the alert's thread, that it is still firing."""
        ...

    def alert_resolved(self, alert: Alert) -> None:
        """Update the alert's message in place and note the resolution in its thread."""
        ...

    def source_notice(self, channel_id: str, event: SourceEvent) -> None:
        """Say a metrics source went down or came back."""
        ...


def display_unit(rule: Rule) -> str:
    """How a rule's values read: percent, ms, x (of a baseline), req/s, or plain."""
    query = rule.query
    if isinstance(query, ErrorRateQuery):
        return "percent"
    if isinstance(query, TrafficQuery):
        return "req/s" if query.compare_with is None else "x"
    return "ms" if query.unit == "ms" else ""


class WatchService:
    """Polls each metrics source and carries its rules' alerts through their lifecycle."""

    def __init__(
        self,
        *,
        repo: AlertRepository,
        sources: Mapping[str, MetricSource],
        rules: Mapping[str, Sequence[Rule]],
        notifier: AlertNotifier,
        clock: Clock,
        notice_channel: str | None,
        failures_before_down: int = 3,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._sources = sources
        self._rules = rules
        self._notifier = notifier
        self._clock = clock
        self._notice_channel = notice_channel
        self._on_enqueued = on_enqueued
        self._lock = threading.Lock()  # each source polls on its own scheduler thread
        self._histories: dict[str, list[Scrape]] = {sid: [] for sid in sources}
        self._keep = {
            sid: max((required_history(r) for r in rules.get(sid, ())), default=dt.timedelta(0))
            for sid in sources
        }
        self._failures_before_down = failures_before_down
        # Loaded on the first poll (the schema may not be migrated when this is built).
        self._book: AlertBook | None = None
        self._health: dict[str, SourceHealth] = {}

    def _memory(self) -> AlertBook:
        """The alert book and source health, as the last run left them."""
        if self._book is None:
            saved = self._repo.load_state(BOOK)
            self._book = AlertBook.from_record(saved) if saved else AlertBook()
            for sid in self._sources:
                record = self._repo.load_state(f"health:{sid}")
                self._health[sid] = (
                    SourceHealth.from_record(record)
                    if record
                    else SourceHealth(sid, failures_before_down=self._failures_before_down)
                )
        return self._book

    def poll(self, source_id: str) -> None:
        """Read one source, update its health and history, and step its rules."""
        now = self._clock()
        result = self._sources[source_id].read(now)
        with self._lock:
            book = self._memory()
            health = self._health[source_id]
            for change in health.observe(result, now):
                self._on_source_event(change)
            history = self._histories[source_id]
            if isinstance(result, Scrape):
                history.append(result)
                keep = history_to_keep(history, now, self._keep[source_id])
                del history[: len(history) - len(keep)]
            for rule in self._rules.get(source_id, ()):
                # A source that is down gives no data: nothing fires or resolves on a guess.
                values = None if health.is_down else evaluate(rule, history, now)
                for event in book.step_rule(rule, values, now):
                    self._on_alert_event(rule, source_id, event)
            self._repo.save_state(BOOK, book.to_record(), now)
            self._repo.save_state(f"health:{source_id}", health.to_record(), now)
        self._on_enqueued()

    def _on_source_event(self, event: SourceEvent) -> None:
        log.warning(
            "metrics source %s: %s (%s)", event.source_id, event.kind.value, event.failure.value
        )
        if self._notice_channel is None:
            return
        payload: dict[str, object] = {
            "source_id": event.source_id,
            "kind": event.kind.value,
            "at": event.at.isoformat(),
            "failing_since": event.failing_since.isoformat(),
            "failure": event.failure.value,
            "consecutive_failures": event.consecutive_failures,
            "channel": self._notice_channel,
        }
        key = f"{SOURCE_NOTICE}:{event.source_id}:{event.kind.value}:{event.at.isoformat()}"
        self._repo.queue([Effect(SOURCE_NOTICE, payload, key)], event.at)

    def _on_alert_event(self, rule: Rule, source_id: str, event: AlertEvent) -> None:
        if event.kind is AlertEventKind.RESOLVED:
            self._repo.resolve(
                event.rule_id,
                event.scope,
                event.value,
                event.at,
                lambda a: [Effect(RESOLVED, {"alert_id": a.id}, f"{RESOLVED}:{a.id}")],
            )
            return
        if event.silenced:
            return
        firing = self._repo.firing(event.rule_id, event.scope)
        if firing is None:
            alert = Alert(
                id=0,
                rule_id=rule.id,
                scope=event.scope,
                source_id=source_id,
                severity=rule.severity,
                channel_id=rule.channel or self._notice_channel or "",
                state="firing",
                value=event.value,
                threshold=event.threshold,
                unit=display_unit(rule),
                since=event.since,
                fired_at=event.at,
            )
            self._repo.open(
                alert, event.at, lambda a: [Effect(POST, {"alert_id": a.id}, f"{POST}:{a.id}")]
            )
            log.info("alert %s fired for %s (value %s)", rule.id, dict(event.scope), event.value)
            return
        tag = f"{REPEAT}:{firing.id}:{event.at.isoformat()}"
        self._repo.update_value(
            firing.id,
            event.value,
            event.at,
            lambda a: [Effect(REPEAT, {"alert_id": a.id}, tag)],
        )

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            POST: self._post,
            REPEAT: self._repeat,
            RESOLVED: self._resolved,
            SOURCE_NOTICE: self._source_notice,
        }

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
