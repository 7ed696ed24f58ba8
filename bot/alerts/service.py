"""Gateway alerting: poll sources, evaluate rules, and turn alert events into Slack effects.

The rule engine (`bot.alerts.engine`) is pure; this service feeds it scrapes, keeps its memory
in the database, and queues every announcement in the outbox so Slack being slow loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.alerts.engine.alerting import (
    AlertBook,
    AlertEvent,
    AlertEventKind,
    SourceEvent,
    SourceHealth,
)
from bot.alerts.engine.model import Scrape
from bot.alerts.engine.rates import history_to_keep
from bot.alerts.engine.rules import ErrorRateQuery, Rule, TrafficQuery, evaluate, required_history
from bot.domain import Alert, AlertNote, Effect
from bot.ports import AlertNotifier, Clock, MetricSource
from storage.alerts import AlertRepository

log = logging.getLogger(__name__)

POST = "alert.post"
REPEAT = "alert.repeat"
RESOLVED = "alert.resolved"
SOURCE_NOTICE = "alert.source_notice"
REFRESH = "alert.refresh"
NOTE = "alert.note"
BOOK = "alert-book"


_RECORDED_UNITS = frozenset({"ratio", "ms"})  # error rates and latencies feed the daily figures


@dataclass(frozen=True)
class SilenceView:
    """A silence as people see it in `/hypercare silences`."""

    rule_id: str
    scope: tuple[tuple[str, str], ...] | None
    until: dt.datetime
    by: str
    reason: str


@dataclass(frozen=True)
class RuleStatus:
    """One rule's latest value per scope, for `/hypercare metrics`."""

    rule_id: str
    unit: str
    threshold: float
    values: dict[tuple[tuple[str, str], ...], float] | None


@dataclass(frozen=True)
class SourceStatus:
    """One source's state and its rules, for `/hypercare metrics`."""

    source_id: str
    down: bool
    last_success: dt.datetime | None
    failure: str | None
    rules: tuple[RuleStatus, ...]


def silence_choices(zone: ZoneInfo, now: dt.datetime) -> list[tuple[str, str, dt.datetime]]:
    """The silences offered (key, label, until): 1 h, 4 h, until tomorrow 09:00 local time."""
    local = now.astimezone(zone)
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(9, 0), zone)
    return [
        ("1h", "1 hour", now + dt.timedelta(hours=1)),
        ("4h", "4 hours", now + dt.timedelta(hours=4)),
        ("tomorrow", f"Until tomorrow 09:00 ({zone.key})", tomorrow.astimezone(dt.UTC)),
    ]


def value_text(value: float, unit: str) -> str:
    """Show a rule value in its unit, for people (Slack and Jira alike)."""
    if unit == "percent":
        return f"{value * 100:.2f} %"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "x":
        return f"{value:.2f}× the baseline"
    if unit == "req/s":
        return f"{value:,.1f} req/s"
    return f"{value:g}"


def display_unit(rule: Rule) -> str:
    """How a rule's values read: percent, ms, x (of a baseline), req/s, or plain."""
    query = rule.query
    if isinstance(query, ErrorRateQuery):
        return "percent"
    if isinstance(query, TrafficQuery):
        return "req/s" if query.compare_with is None else "x"
    return "ms" if query.unit == "ms" else ""


class AlertService:
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
        on_fired: Callable[[Alert], Sequence[Effect]] = lambda alert: (),
    ) -> None:
        self._repo = repo
        self._sources = sources
        self._rules = rules
        self._notifier = notifier
        self._clock = clock
        self._notice_channel = notice_channel
        self._on_enqueued = on_enqueued
        self._on_fired = on_fired  # e.g. a Jira ticket for rules that open one
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
                if values and rule.query.unit in _RECORDED_UNITS:
                    worst = max(values.values())
                    self._repo.record_hour(rule.id, source_id, rule.query.unit, worst, now)
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
                alert,
                event.at,
                lambda a: [Effect(POST, {"alert_id": a.id}, f"{POST}:{a.id}"), *self._on_fired(a)],
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

    def close(self) -> None:
        """Close the sources' HTTP connections."""
        for source in self._sources.values():
            close = getattr(source, "close", None)
            if callable(close):
                close()

    def now(self) -> dt.datetime:
        """The service's clock (handlers compute silence ends with it)."""
        return self._clock()

    def alert(self, alert_id: int) -> Alert | None:
        """Return one alert."""
        return self._repo.get(alert_id)

    def silence_for(
        self, alert_id: int, choice: str, zone: ZoneInfo, by: str, reason: str
    ) -> Alert | None:
        """Silence an alert for one of the offered durations (see `silence_choices`)."""
        until = {key: t for key, _, t in silence_choices(zone, self._clock())}.get(choice)
        return self.silence(alert_id, until, by, reason) if until else None

    def acknowledge(self, alert_id: int, user: str) -> Alert | None:
        """Record who acknowledged an alert; None when it was acknowledged already."""
        now = self._clock()
        acknowledged = self._repo.acknowledge(
            alert_id,
            user,
            now,
            lambda a: self._note_effects(a, AlertNote("acknowledged", user), now),
        )
        self._on_enqueued()
        return acknowledged

    def silence(self, alert_id: int, until: dt.datetime, by: str, reason: str) -> Alert | None:
        """Silence an alert's rule and scope until a time; its repeats are not posted meanwhile."""
        alert = self._repo.get(alert_id)
        if alert is None:
            return None
        now = self._clock()
        with self._lock:
            book = self._memory()
            book.silence(alert.rule_id, alert.scope, until, by, reason)
            self._repo.save_state(BOOK, book.to_record(), now)
        note = AlertNote("silenced", by, until, reason)
        self._repo.queue(self._note_effects(alert, note, now), now)
        self._on_enqueued()
        return alert

    def end_silence(self, rule_id: str, scope: Sequence[tuple[str, str]] | None, by: str) -> int:
        """End silences of a rule early, of one scope or (None) of every scope; return how many."""
        now = self._clock()
        with self._lock:
            book = self._memory()
            wanted = tuple(scope) if scope is not None else None
            # The book lifts silences by exact scope; "every scope" means each one it holds.
            scopes = {s.scope for s in book.silences if s.rule_id == rule_id}
            ended = [
                lifted
                for held in scopes
                if wanted is None or held == wanted
                for lifted in book.unsilence(rule_id, held)
            ]
            self._repo.save_state(BOOK, book.to_record(), now)
        log.info("%s ended %s silence(s) of %s", by, len(ended), rule_id)
        return len(ended)

    def silences(self) -> list[SilenceView]:
        """Silences in force now."""
        now = self._clock()
        with self._lock:
            book = self._memory()
            book.expire_silences(now)
            return [SilenceView(s.rule_id, s.scope, s.until, s.by, s.reason) for s in book.silences]

    def silenced_until(self, alert: Alert) -> dt.datetime | None:
        """When the silence covering an alert ends, if one does."""
        now = self._clock()
        covering = [
            s.until
            for s in self.silences()
            if s.rule_id == alert.rule_id
            and (s.scope is None or s.scope == alert.scope)
            and s.until > now
        ]
        return max(covering, default=None)

    def status(self) -> list[SourceStatus]:
        """Each source's state and each rule's current value."""
        now = self._clock()
        out = []
        with self._lock:
            self._memory()
            for sid in self._sources:
                health, history = self._health[sid], self._histories[sid]
                rules = tuple(
                    RuleStatus(
                        r.id,
                        display_unit(r),
                        r.threshold,
                        None if health.is_down else evaluate(r, history, now),
                    )
                    for r in self._rules.get(sid, ())
                )
                failure = health.last_failure.value if health.last_failure else None
                out.append(
                    SourceStatus(sid, health.is_down, health.last_success_at, failure, rules)
                )
        return out

    def _note_effects(self, alert: Alert, note: AlertNote, now: dt.datetime) -> list[Effect]:
        tag = f"{alert.id}:{note.kind}:{now.isoformat()}"
        payload: dict[str, object] = {
            "alert_id": alert.id,
            "kind": note.kind,
            "by": note.by,
            "until": note.until.isoformat() if note.until else None,
            "reason": note.reason,
        }
        return [
            Effect(NOTE, payload, f"{NOTE}:{tag}"),
            Effect(REFRESH, {"alert_id": alert.id}, f"{REFRESH}:{tag}"),
        ]
