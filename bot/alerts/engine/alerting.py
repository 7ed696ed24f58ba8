"""Alert lifecycles: source health, per-scope alert states, and the book that holds them.

Everything here is a plain dataclass that a repository can store (`to_record()`, JSON-safe) and
restore (`from_record()`); methods mutate the state and return the events to deliver. Time only
comes in as `now`. Vocabulary follows Prometheus/Alertmanager: an alert is *pending* while its
condition holds for less than `for_`, then *firing*, then *resolved*; reminders go out every
`repeat_interval`; a *silence* mutes notifications without stopping the state machine.

Reliability rules (reliability.md F8–F11):

* A source that cannot be read is its own state. After `failures_before_down` consecutive
  failures it is down: exactly one SOURCE_DOWN, then exactly one SOURCE_RECOVERED.
* No data (`value=None`: source down, parse error, too little history, a scope that
  disappeared) changes nothing: no alert fires, resolves or reminds on missing data.
  The caller passes None for every rule of a source whose `SourceHealth.is_down` is true.
* Flapping is damped by `for_` (must breach continuously before firing), hysteresis
  (`resolve_threshold`) and `keep_firing_for` (must stay resolved before resolving).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.alerts.engine.model import FailureKind, Labels, Scrape, ScrapeFailure
from bot.alerts.engine.rules import Comparison, Rule

Record = dict[str, Any]
"""A JSON-safe dict: what a repository stores."""

DEFAULT_FAILURES_BEFORE_DOWN = 3


class SourceEventKind(StrEnum):
    """What happened to a metrics source."""

    SOURCE_DOWN = "source_down"
    SOURCE_RECOVERED = "source_recovered"


@dataclass(frozen=True)
class SourceEvent:
    """A source went down or came back. `failure` is the latest failure kind of the streak."""

    kind: SourceEventKind
    source_id: str
    at: dt.datetime
    failing_since: dt.datetime
    failure: FailureKind
    consecutive_failures: int

    @property
    def outage(self) -> dt.timedelta:
        """How long the source has been failing (for a recovery: how long it was failing)."""
        return self.at - self.failing_since


@dataclass
class SourceHealth:
    """Whether one metrics source can be read, from the outcome of every poll."""

    source_id: str
    failures_before_down: int = DEFAULT_FAILURES_BEFORE_DOWN
    consecutive_failures: int = 0
    failing_since: dt.datetime | None = None
    last_failure: FailureKind | None = None
    last_failure_detail: str = ""  # for operators and logs, never for Slack
    is_down: bool = False
    last_success_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.failures_before_down < 1:
            raise ValueError("failures_before_down must be at least 1")

    def observe(self, result: Scrape | ScrapeFailure, now: dt.datetime) -> list[SourceEvent]:
        """Record one poll's outcome; returns SOURCE_DOWN or SOURCE_RECOVERED when that happens."""
        if result.source_id != self.source_id:
            raise ValueError(f"{result.source_id} is not source {self.source_id}")
        if isinstance(result, ScrapeFailure):
            return self._failed(result, now)
        return self._succeeded(now)

    def _failed(self, failure: ScrapeFailure, now: dt.datetime) -> list[SourceEvent]:
        self.consecutive_failures += 1
        if self.failing_since is None:
            self.failing_since = now
        self.last_failure = failure.kind
        self.last_failure_detail = failure.detail
        if self.is_down or self.consecutive_failures < self.failures_before_down:
            return []  # a blip, or already announced: one notice per outage
        self.is_down = True
        return [self._event(SourceEventKind.SOURCE_DOWN, now)]

    def _succeeded(self, now: dt.datetime) -> list[SourceEvent]:
        events = [self._event(SourceEventKind.SOURCE_RECOVERED, now)] if self.is_down else []
        self.is_down = False
        self.consecutive_failures = 0
        self.failing_since = None
        self.last_failure = None
        self.last_failure_detail = ""
        self.last_success_at = now
        return events

    def _event(self, kind: SourceEventKind, now: dt.datetime) -> SourceEvent:
        assert self.failing_since is not None and self.last_failure is not None
        return SourceEvent(
            kind=kind,
            source_id=self.source_id,
            at=now,
            failing_since=self.failing_since,
            failure=self.last_failure,
            consecutive_failures=self.consecutive_failures,
        )

    def to_record(self) -> Record:
        """This state as JSON-safe data."""
        return {
            "source_id": self.source_id,
            "failures_before_down": self.failures_before_down,
            "consecutive_failures": self.consecutive_failures,
            "failing_since": _time_out(self.failing_since),
            "last_failure": None if self.last_failure is None else str(self.last_failure),
            "last_failure_detail": self.last_failure_detail,
            "is_down": self.is_down,
            "last_success_at": _time_out(self.last_success_at),
        }

    @classmethod
    def from_record(cls, record: Record) -> SourceHealth:
        """The state `to_record` stored."""
        kind = record["last_failure"]
        return cls(
            source_id=record["source_id"],
            failures_before_down=record["failures_before_down"],
            consecutive_failures=record["consecutive_failures"],
            failing_since=_time_in(record["failing_since"]),
            last_failure=None if kind is None else FailureKind(kind),
            last_failure_detail=record["last_failure_detail"],
            is_down=record["is_down"],
            last_success_at=_time_in(record["last_success_at"]),
        )


class AlertPhase(StrEnum):
    """Where an alert is in its life."""

    INACTIVE = "inactive"
    PENDING = "pending"  # breaching, but not yet for `for_`
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertEventKind(StrEnum):
    """What to tell people about an alert."""

    FIRING = "firing"
    REPEAT = "repeat"  # still firing, a reminder every repeat_interval
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertEvent:
    """A notification-worthy change of one alert (one rule, one scope).

    `threshold` is the one crossed: the firing threshold for FIRING/REPEAT, the resolve
    threshold for RESOLVED. `since` is when the condition started to hold. `silenced` FIRING or
    REPEAT events should not be posted. A RESOLVED event says in `announced` whether anyone was
    told the alert fired (if every notice was silenced, its resolution may be left unposted too).
    """

    kind: AlertEventKind
    rule_id: str
    scope: Labels
    value: float
    threshold: float
    comparison: Comparison
    since: dt.datetime
    at: dt.datetime
    severity: str
    channel: str | None
    fired_at: dt.datetime
    silenced: bool = False
    announced: bool = True

    @property
    def firing_duration(self) -> dt.timedelta:
        """How long the alert has been (for RESOLVED: was) firing."""
        return self.at - self.fired_at


@dataclass
class AlertState:
    """The lifecycle of one rule in one scope: inactive → pending → firing → resolved."""

    rule_id: str
    scope: Labels
    phase: AlertPhase = AlertPhase.INACTIVE
    since: dt.datetime | None = None  # when the current breach started
    fired_at: dt.datetime | None = None
    last_notified_at: dt.datetime | None = None  # last FIRING/REPEAT, silenced or not
    announced: bool = False  # an unsilenced FIRING/REPEAT went out for this firing
    clearing_since: dt.datetime | None = None  # firing, but resolved values seen since then
    last_value: float | None = None
    resolved_at: dt.datetime | None = None

    def step(
        self, value: float | None, now: dt.datetime, rule: Rule, *, silenced: bool = False
    ) -> list[AlertEvent]:
        """Take one evaluation's value; returns the events to deliver (usually none).

        `value=None` means the value is unknown (source down, not enough history): nothing
        changes — no fire, no resolve, no reminder — and a pending alert keeps its start time.
        We keep it rather than restart the `for_` clock because the gap is "unknown", not
        "condition false": the breach was seen on both sides of it, and a source that stops
        answering during an incident is more likely part of the incident than a recovery.
        Restarting would also let a flaky source (one failed poll in three) hold a real alert
        pending forever. Callers who want stricter evidence can raise `for_`.
        """
        if value is None or not math.isfinite(value):
            return []
        self.last_value = value
        if self.phase is AlertPhase.FIRING:
            return self._step_firing(value, now, rule, silenced)
        if not rule.breaches(value):
            if self.phase is AlertPhase.PENDING:
                # The condition broke before `for_` elapsed: a flap, not an incident.
                self.phase, self.since = AlertPhase.INACTIVE, None
            return []
        if self.phase is not AlertPhase.PENDING or self.since is None:
            self.phase, self.since = AlertPhase.PENDING, now
        if now - self.since < rule.for_:
            return []
        self.phase, self.fired_at = AlertPhase.FIRING, now
        self.announced, self.clearing_since, self.resolved_at = False, None, None
        return [self._notify(AlertEventKind.FIRING, value, now, rule, silenced)]

    def _step_firing(
        self, value: float, now: dt.datetime, rule: Rule, silenced: bool
    ) -> list[AlertEvent]:
        if rule.clears(value):
            if self.clearing_since is None:
                self.clearing_since = now
            if now - self.clearing_since < rule.keep_firing_for:
                return []
            return [self._resolve(value, now, rule)]
        # Still firing: breaching, or inside the hysteresis band between the two thresholds.
        self.clearing_since = None
        if not self.announced and not silenced:
            # Every notice so far was silenced and the silence is over: tell people now rather
            # than leave a live alert unannounced until the next reminder.
            return [self._notify(AlertEventKind.FIRING, value, now, rule, silenced)]
        if self._reminder_due(now, rule):
            return [self._notify(AlertEventKind.REPEAT, value, now, rule, silenced)]
        return []

    def _reminder_due(self, now: dt.datetime, rule: Rule) -> bool:
        last, interval = self.last_notified_at, rule.repeat_interval
        return interval is not None and last is not None and now - last >= interval

    def _notify(
        self, kind: AlertEventKind, value: float, now: dt.datetime, rule: Rule, silenced: bool
    ) -> AlertEvent:
        self.last_notified_at = now
        self.announced = self.announced or not silenced
        return self._event(kind, value, rule.threshold, now, rule, silenced=silenced)

    def _resolve(self, value: float, now: dt.datetime, rule: Rule) -> AlertEvent:
        event = self._event(AlertEventKind.RESOLVED, value, rule.clear_threshold, now, rule)
        self.phase, self.resolved_at = AlertPhase.RESOLVED, now
        self.since = self.fired_at = self.last_notified_at = self.clearing_since = None
        self.announced = False
        return event

    def _event(
        self,
        kind: AlertEventKind,
        value: float,
        threshold: float,
        now: dt.datetime,
        rule: Rule,
        *,
        silenced: bool = False,
    ) -> AlertEvent:
        assert self.since is not None and self.fired_at is not None
        return AlertEvent(
            kind=kind,
            rule_id=self.rule_id,
            scope=self.scope,
            value=value,
            threshold=threshold,
            comparison=rule.comparison,
            since=self.since,
            at=now,
            severity=rule.severity,
            channel=rule.channel,
            fired_at=self.fired_at,
            silenced=silenced,
            announced=self.announced,
        )

    def to_record(self) -> Record:
        """This state as JSON-safe data."""
        return {
            "rule_id": self.rule_id,
            "scope": _scope_out(self.scope),
            "phase": str(self.phase),
            "since": _time_out(self.since),
            "fired_at": _time_out(self.fired_at),
            "last_notified_at": _time_out(self.last_notified_at),
            "announced": self.announced,
            "clearing_since": _time_out(self.clearing_since),
            "last_value": self.last_value,
            "resolved_at": _time_out(self.resolved_at),
        }

    @classmethod
    def from_record(cls, record: Record) -> AlertState:
        """The state `to_record` stored."""
        return cls(
            rule_id=record["rule_id"],
            scope=_scope_in(record["scope"]),
            phase=AlertPhase(record["phase"]),
            since=_time_in(record["since"]),
            fired_at=_time_in(record["fired_at"]),
            last_notified_at=_time_in(record["last_notified_at"]),
            announced=record["announced"],
            clearing_since=_time_in(record["clearing_since"]),
            last_value=record["last_value"],
            resolved_at=_time_in(record["resolved_at"]),
        )


@dataclass(frozen=True)
class Silence:
    """Mute one rule's notifications in one scope (every scope when None) until `until`."""

    rule_id: str
    scope: Labels | None
    until: dt.datetime
    by: str
    reason: str

    def covers(self, rule_id: str, scope: Labels, now: dt.datetime) -> bool:
        """Whether this silence mutes that alert at `now` (it ends at `until`, exclusive)."""
        return (
            now < self.until
            and rule_id == self.rule_id
            and (self.scope is None or self.scope == scope)
        )

    def to_record(self) -> Record:
        """This silence as JSON-safe data."""
        return {
            "rule_id": self.rule_id,
            "scope": None if self.scope is None else _scope_out(self.scope),
            "until": _time_out(self.until),
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_record(cls, record: Record) -> Silence:
        """The silence `to_record` stored."""
        until = _time_in(record["until"])
        assert until is not None
        scope = record["scope"]
        return cls(
            rule_id=record["rule_id"],
            scope=None if scope is None else _scope_in(scope),
            until=until,
            by=record["by"],
            reason=record["reason"],
        )


@dataclass
class AlertBook:
    """Every live alert (one per rule and scope) and every silence.

    Only alerts that are pending or firing are kept; an alert that returns to inactive or
    resolves is dropped after its events are returned, so the book stays small.
    """

    states: dict[tuple[str, Labels], AlertState] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)

    def step_rule(
        self, rule: Rule, values: dict[Labels, float] | None, now: dt.datetime
    ) -> list[AlertEvent]:
        """Feed one evaluation of `rule` (None: no data at all) and return the events, by scope.

        A scope the book tracks but `values` lacks gets no data for this step: a scope that
        disappears neither fires nor resolves.
        """
        self.expire_silences(now)
        scopes = {scope for rule_id, scope in self.states if rule_id == rule.id}
        if values is not None:
            scopes.update(values)
        events: list[AlertEvent] = []
        for scope in sorted(scopes):
            key = (rule.id, scope)
            value = None if values is None else values.get(scope)
            state = self.states.get(key)
            if state is None:
                if value is None or not rule.breaches(value):
                    continue  # healthy and untracked: nothing to remember
                state = AlertState(rule_id=rule.id, scope=scope)
            silenced = self.is_silenced(rule.id, scope, now)
            events.extend(state.step(value, now, rule, silenced=silenced))
            if state.phase in (AlertPhase.PENDING, AlertPhase.FIRING):
                self.states[key] = state
            else:
                self.states.pop(key, None)
        return events

    def state(self, rule_id: str, scope: Labels) -> AlertState | None:
        """The live state of that alert, or None when it is neither pending nor firing."""
        return self.states.get((rule_id, scope))

    def firing(self) -> list[AlertState]:
        """Every firing alert, by rule id and scope."""
        return [
            state for _, state in sorted(self.states.items()) if state.phase is AlertPhase.FIRING
        ]

    def silence(
        self, rule_id: str, scope: Labels | None, until: dt.datetime, by: str, reason: str
    ) -> Silence:
        """Mute `rule_id` in `scope` (every scope when None) until `until`; returns the silence."""
        silence = Silence(rule_id=rule_id, scope=scope, until=until, by=by, reason=reason)
        self.silences.append(silence)
        return silence

    def unsilence(self, rule_id: str, scope: Labels | None) -> list[Silence]:
        """Lift the silences made for exactly this rule and scope; returns them."""
        lifted = [s for s in self.silences if s.rule_id == rule_id and s.scope == scope]
        self.silences = [s for s in self.silences if s not in lifted]
        return lifted

    def is_silenced(self, rule_id: str, scope: Labels, now: dt.datetime) -> bool:
        """Whether notifications of that alert are muted at `now`."""
        return any(silence.covers(rule_id, scope, now) for silence in self.silences)

    def expire_silences(self, now: dt.datetime) -> list[Silence]:
        """Drop the silences that have ended by `now`; returns them."""
        expired = [s for s in self.silences if now >= s.until]
        self.silences = [s for s in self.silences if now < s.until]
        return expired

    def to_record(self) -> Record:
        """The whole book as JSON-safe data."""
        return {
            "states": [state.to_record() for _, state in sorted(self.states.items())],
            "silences": [silence.to_record() for silence in self.silences],
        }

    @classmethod
    def from_record(cls, record: Record) -> AlertBook:
        """The book `to_record` stored."""
        states = [AlertState.from_record(item) for item in record["states"]]
        return cls(
            states={(state.rule_id, state.scope): state for state in states},
            silences=[Silence.from_record(item) for item in record["silences"]],
        )


def _time_out(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time_in(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _scope_out(scope: Labels) -> list[list[str]]:
    return [[name, value] for name, value in scope]


def _scope_in(pairs: list[list[str]]) -> Labels:
    return tuple(sorted((name, value) for name, value in pairs))
