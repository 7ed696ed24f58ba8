"""Alert and source-health lifecycles on virtual time: firing, reminders, resolution, silences."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import pytest

from bot.alerts.engine.alerting import (
    AlertBook,
    AlertEvent,
    AlertEventKind,
    AlertPhase,
    AlertState,
    SourceEventKind,
    SourceHealth,
)
from bot.alerts.engine.model import FailureKind, Sample, Scrape, ScrapeFailure, labels_of
from bot.alerts.engine.rules import Comparison, ErrorRateQuery, Rule, TrafficQuery, evaluate

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
ERRORS = ErrorRateQuery(metric="kong_http_requests_total", status_label="code")
API = labels_of({"service": "api"})
WEB = labels_of({"service": "web"})

FIRING, REPEAT, RESOLVED = AlertEventKind.FIRING, AlertEventKind.REPEAT, AlertEventKind.RESOLVED


def at(minute: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


def error_rule(**options: object) -> Rule:
    settings: dict[str, object] = {
        "threshold": 0.05,
        "for_": 2 * MINUTE,
        "resolve_threshold": 0.03,
        "repeat_interval": dt.timedelta(hours=4),
        "severity": "critical",
        "channel": "C0ALERTS",
    }
    settings.update(options)
    return Rule(id="errors", query=ERRORS, **settings)  # type: ignore[arg-type]


def run(
    state: AlertState, rule: Rule, timeline: Sequence[tuple[float, float | None]]
) -> list[AlertEvent]:
    """Step the state through (minute, value) pairs and collect every event."""
    events: list[AlertEvent] = []
    for minute, value in timeline:
        events.extend(state.step(value, at(minute), rule))
    return events


def kinds(events: list[AlertEvent]) -> list[tuple[AlertEventKind, dt.datetime]]:
    return [(event.kind, event.at) for event in events]


# --- one alert --------------------------------------------------------------------------------


def test_fires_once_the_breach_held_for_the_for_duration_through_a_flap() -> None:
    """A dip under the threshold restarts `for_`; FIRING comes for_ after the breach resumed."""
    state = AlertState(rule_id="errors", scope=())
    timeline = [(0, 0.06), (1, 0.04), (2, 0.06), (3, 0.07), (4, 0.08), (5, 0.09)]
    events = run(state, error_rule(), timeline)
    assert kinds(events) == [(FIRING, at(4))]
    fired = events[0]
    assert (fired.since, fired.value, fired.threshold) == (at(2), 0.08, 0.05)
    assert (fired.severity, fired.channel, fired.silenced) == ("critical", "C0ALERTS", False)
    assert state.phase is AlertPhase.FIRING


def test_flapping_around_the_threshold_never_fires() -> None:
    """Values alternating across the threshold never breach for `for_` and never fire."""
    state = AlertState(rule_id="errors", scope=())
    timeline = [(m, 0.06 if m % 2 == 0 else 0.049) for m in range(61)]
    assert run(state, error_rule(), timeline) == []
    assert state.phase is AlertPhase.PENDING


def test_zero_for_fires_on_the_first_breach() -> None:
    """With `for_` zero the first breaching value fires."""
    state = AlertState(rule_id="errors", scope=())
    assert kinds(run(state, error_rule(for_=dt.timedelta(0)), [(0, 0.2)])) == [(FIRING, at(0))]


def test_hysteresis_keeps_firing_until_back_past_the_resolve_threshold() -> None:
    """A firing alert ignores dips into the hysteresis band and resolves only at ≤ 3 %."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule()
    run(state, rule, [(0, 0.1), (2, 0.1)])
    timeline = [(3, 0.04), (4, 0.06), (5, 0.031), (6, 0.03)]
    events = run(state, rule, timeline)
    assert kinds(events) == [(RESOLVED, at(6))]
    resolved = events[0]
    assert (resolved.value, resolved.threshold) == (0.03, 0.03)
    assert resolved.since == at(0) and resolved.fired_at == at(2)
    assert resolved.firing_duration == 4 * MINUTE
    assert state.phase is AlertPhase.RESOLVED


def test_resolved_alert_starts_over_on_the_next_breach() -> None:
    """After resolving, a new breach is pending again and needs the full `for_`."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule()
    run(state, rule, [(0, 0.1), (2, 0.1), (3, 0.0)])
    events = run(state, rule, [(10, 0.1), (11, 0.1), (12, 0.1)])
    assert kinds(events) == [(FIRING, at(12))]
    assert events[0].since == at(10)


def test_resolution_reports_how_long_the_alert_fired() -> None:
    """RESOLVED carries the firing duration, from FIRING to resolution."""
    state = AlertState(rule_id="errors", scope=())
    events = run(state, error_rule(), [(0, 0.1), (2, 0.1), (97, 0.01)])
    assert kinds(events) == [(FIRING, at(2)), (RESOLVED, at(97))]
    assert events[1].firing_duration == 95 * MINUTE


def test_reminders_every_repeat_interval_while_firing() -> None:
    """While firing, REPEAT goes out each time repeat_interval has passed since the last notice."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule(for_=dt.timedelta(0), repeat_interval=30 * MINUTE)
    # Polls every minute for 95 minutes; one poll value sits in the hysteresis band.
    timeline: list[tuple[float, float | None]] = [(m, 0.04 if m == 60 else 0.1) for m in range(96)]
    assert kinds(run(state, rule, timeline)) == [
        (FIRING, at(0)),
        (REPEAT, at(30)),
        (REPEAT, at(60)),
        (REPEAT, at(90)),
    ]


def test_no_reminders_without_a_repeat_interval() -> None:
    """repeat_interval None means one FIRING and no REPEAT."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule(for_=dt.timedelta(0), repeat_interval=None)
    timeline: list[tuple[float, float | None]] = [(m * 60, 0.1) for m in range(30)]
    assert kinds(run(state, rule, timeline)) == [(FIRING, at(0))]


def test_keep_firing_for_needs_the_resolved_value_to_last() -> None:
    """With keep_firing_for, a single good value does not resolve; a lasting one does."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule(for_=dt.timedelta(0), keep_firing_for=3 * MINUTE)
    timeline = [(0, 0.1), (1, 0.0), (2, 0.1), (3, 0.0), (4, 0.0), (5, 0.0), (6, 0.0)]
    assert kinds(run(state, rule, timeline)) == [(FIRING, at(0)), (RESOLVED, at(6))]


def test_below_rules_fire_low_and_resolve_high() -> None:
    """A traffic rule (BELOW) fires when the ratio drops and resolves when it recovers."""
    rule = Rule(
        id="traffic",
        query=TrafficQuery(metric="kong_http_requests_total"),
        threshold=0.5,
        comparison=Comparison.BELOW,
        resolve_threshold=0.8,
    )
    state = AlertState(rule_id="traffic", scope=())
    events = run(state, rule, [(0, 0.9), (1, 0.3), (2, 0.7), (3, 0.8)])
    assert kinds(events) == [(FIRING, at(1)), (RESOLVED, at(3))]


def test_missing_values_neither_fire_resolve_remind_nor_restart_pending() -> None:
    """None changes nothing: no FIRING, REPEAT or RESOLVED, and `for_` keeps its start."""
    state = AlertState(rule_id="errors", scope=())
    rule = error_rule(for_=5 * MINUTE, repeat_interval=30 * MINUTE)
    assert run(state, rule, [(0, 0.1), *((m, None) for m in range(1, 11))]) == []
    assert (state.phase, state.since) == (AlertPhase.PENDING, at(0))
    # The breach is seen again after the gap: it has held since minute 0, so it fires now.
    assert kinds(run(state, rule, [(11, 0.1)])) == [(FIRING, at(11))]
    assert run(state, rule, [(m, None) for m in range(12, 300)]) == []
    assert state.phase is AlertPhase.FIRING


# --- source health ----------------------------------------------------------------------------


def failure(minute: float, kind: FailureKind = FailureKind.TIMEOUT) -> ScrapeFailure:
    return ScrapeFailure(source_id="gw", at=at(minute), kind=kind, detail="read timed out")


def success(minute: float, *samples: Sample) -> Scrape:
    return Scrape(source_id="gw", at=at(minute), samples=samples)


def test_two_failures_then_a_success_say_nothing() -> None:
    """Failures below the limit are a blip: no SOURCE_DOWN, and no SOURCE_RECOVERED after."""
    health = SourceHealth(source_id="gw")
    results: list[Scrape | ScrapeFailure] = [failure(0), failure(1), success(2)]
    assert [event for r in results for event in health.observe(r, r.at)] == []
    assert not health.is_down and health.consecutive_failures == 0


def test_one_down_notice_per_outage_and_one_recovery() -> None:
    """Three failures give one SOURCE_DOWN, ten still one, and the next success one RECOVERED."""
    health = SourceHealth(source_id="gw")
    events = [e for m in range(3) for e in health.observe(failure(m), at(m))]
    assert [(e.kind, e.at, e.failing_since, e.failure) for e in events] == [
        (SourceEventKind.SOURCE_DOWN, at(2), at(0), FailureKind.TIMEOUT)
    ]
    assert health.is_down
    later = [e for m in range(3, 10) for e in health.observe(failure(m, FailureKind.DOWN), at(m))]
    assert later == [] and health.last_failure is FailureKind.DOWN
    recovered = health.observe(success(10), at(10))
    assert [(e.kind, e.outage, e.failure) for e in recovered] == [
        (SourceEventKind.SOURCE_RECOVERED, 10 * MINUTE, FailureKind.DOWN)
    ]
    assert health.observe(success(11), at(11)) == []


def test_a_new_outage_is_announced_again() -> None:
    """After a recovery, the next run of failures gives a new SOURCE_DOWN."""
    health = SourceHealth(source_id="gw", failures_before_down=1)
    first = health.observe(failure(0, FailureKind.PARSE_ERROR), at(0))
    health.observe(success(1), at(1))
    second = health.observe(failure(2), at(2))
    assert [e.failure for e in first + second] == [FailureKind.PARSE_ERROR, FailureKind.TIMEOUT]


def test_health_refuses_another_sources_result() -> None:
    """Observing a result of a different source is a programming error."""
    with pytest.raises(ValueError):
        SourceHealth(source_id="other").observe(failure(0), at(0))


def test_source_down_freezes_alerts_until_data_returns() -> None:
    """While the source is down rules get None: a firing alert neither resolves nor reminds."""
    name = "kong_http_requests_total"

    def poll(minute: int, errors: int, total: int) -> Scrape:
        return success(
            minute,
            Sample(name, labels_of({"code": "500"}), errors),
            Sample(name, labels_of({"code": "200"}), total - errors),
        )

    rule = error_rule(repeat_interval=10 * MINUTE)
    health, book = SourceHealth(source_id="gw"), AlertBook()
    history: list[Scrape] = []
    log: list[tuple[str, int]] = []
    for minute in range(40):
        if 4 <= minute < 30:
            result: Scrape | ScrapeFailure = failure(minute, FailureKind.DOWN)
        elif minute < 4:
            result = poll(minute, errors=10 * minute, total=100 * minute)  # 10 % errors
        else:
            result = poll(minute, errors=40, total=400 + 100 * (minute - 30))  # healthy again
        log += [(str(e.kind), minute) for e in health.observe(result, at(minute))]
        if isinstance(result, Scrape):
            history.append(result)
        values = None if health.is_down else evaluate(rule, history, at(minute))
        log += [(str(e.kind), minute) for e in book.step_rule(rule, values, at(minute))]
    # Fires at 3 (breach from 1), down at 6; minutes 4-5 still see the pre-outage scrapes. The
    # recovered source needs two fresh scrapes (minute 31) before the rate is known again.
    assert log == [
        ("firing", 3),
        ("source_down", 6),
        ("source_recovered", 30),
        ("resolved", 31),
    ]


# --- the book ---------------------------------------------------------------------------------


def test_one_alert_per_rule_and_scope() -> None:
    """Each scope has its own alert; healthy scopes are not even tracked."""
    book = AlertBook()
    rule = error_rule(for_=dt.timedelta(0))
    events = book.step_rule(rule, {API: 0.2, WEB: 0.01}, at(0))
    assert [(e.kind, e.scope) for e in events] == [(FIRING, API)]
    assert book.state("errors", WEB) is None
    assert [s.scope for s in book.firing()] == [API]


def test_a_scope_that_disappears_is_no_data() -> None:
    """A firing scope missing from later values stays firing; only a real value resolves it."""
    book = AlertBook()
    rule = error_rule(for_=dt.timedelta(0))
    book.step_rule(rule, {API: 0.2}, at(0))
    assert book.step_rule(rule, {}, at(1)) == []
    assert book.step_rule(rule, None, at(2)) == []
    assert [e.kind for e in book.step_rule(rule, {API: 0.0}, at(3))] == [RESOLVED]
    assert book.firing() == []


def test_silenced_alerts_change_state_but_their_notices_are_marked() -> None:
    """Under a silence FIRING and REPEAT are marked silenced; RESOLVED still comes, unannounced."""
    book = AlertBook()
    rule = error_rule(for_=dt.timedelta(0), repeat_interval=10 * MINUTE)
    book.silence("errors", API, until=at(60), by="U0ALICE", reason="deploying")
    events = [e for m in range(25) for e in book.step_rule(rule, {API: 0.2, WEB: 0.2}, at(m))]
    assert [(e.kind, e.scope, e.silenced) for e in events if e.scope == API] == [
        (FIRING, API, True),
        (REPEAT, API, True),
        (REPEAT, API, True),
    ]
    assert all(not e.silenced for e in events if e.scope == WEB)
    resolved = book.step_rule(rule, {API: 0.0, WEB: 0.0}, at(25))
    assert [(e.kind, e.scope, e.silenced, e.announced) for e in resolved] == [
        (RESOLVED, API, False, False),
        (RESOLVED, WEB, False, True),
    ]


def test_silence_expires_at_until_and_the_live_alert_is_then_announced() -> None:
    """At `until` the silence is over and a still-firing alert is announced with a FIRING."""
    book = AlertBook()
    rule = error_rule(for_=dt.timedelta(0))
    book.silence("errors", None, until=at(30), by="U0ALICE", reason="known issue")
    assert book.is_silenced("errors", API, at(29))
    assert not book.is_silenced("errors", API, at(30))
    assert [e.silenced for e in book.step_rule(rule, {API: 0.2}, at(0))] == [True]
    assert book.step_rule(rule, {API: 0.2}, at(29)) == []
    events = book.step_rule(rule, {API: 0.2}, at(30))
    assert [(e.kind, e.silenced, e.since) for e in events] == [(FIRING, False, at(0))]
    assert book.silences == []
    assert book.step_rule(rule, {API: 0.2}, at(31)) == []


def test_a_silence_for_every_scope_and_lifting_it() -> None:
    """A silence without scope covers every scope of its rule only; unsilence lifts it."""
    book = AlertBook()
    book.silence("errors", None, until=at(60), by="U0ALICE", reason="maintenance")
    assert book.is_silenced("errors", API, at(0)) and book.is_silenced("errors", WEB, at(0))
    assert not book.is_silenced("latency", API, at(0))
    assert len(book.unsilence("errors", None)) == 1
    assert not book.is_silenced("errors", API, at(0))


def test_the_book_survives_a_round_trip_through_json() -> None:
    """to_record/from_record restore states and silences exactly, through plain JSON."""
    book = AlertBook()
    rule = error_rule()
    book.silence("errors", WEB, until=at(90), by="U0ALICE", reason="deploy")
    book.step_rule(rule, {API: 0.2, WEB: 0.2}, at(0))
    book.step_rule(rule, {API: 0.2, WEB: 0.2}, at(2))
    restored = AlertBook.from_record(json.loads(json.dumps(book.to_record())))
    assert restored == book
    health = SourceHealth(source_id="gw")
    for m in range(3):
        health.observe(failure(m), at(m))
    assert SourceHealth.from_record(json.loads(json.dumps(health.to_record()))) == health
