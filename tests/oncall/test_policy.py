"""The escalation timeline of one item, on virtual time: climbs, acks, outages, SLA breaches."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.oncall.policy import (
    DueStep,
    EscalationState,
    Snapshot,
    StepKey,
    acknowledge,
    advance,
    breach_steps,
    due_steps,
    next_due,
    resolve,
    skip_to_next,
    sla,
    start,
    stored_state,
    tick,
)
from bot.oncall.program import EscalationPolicy, EscalationProgram, StepKind

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
SEV1_STEPS: list[Any] = [
    "notify_primary",
    {"wait": "5m"},
    "notify_secondary",
    {"wait": "10m"},
    "notify_leads",
    {"wait": "15m"},
    {"repeat": 2},
]


def policy(steps: list[Any] = SEV1_STEPS, **fields: Any) -> EscalationPolicy:
    base: dict[str, Any] = {"severity": "sev1", "ack_within": "15m", "resolve_within": "4h"}
    return EscalationPolicy.model_validate(base | fields | {"steps": steps})


def begin(steps: list[Any] = SEV1_STEPS, **fields: Any) -> EscalationState:
    return start("HC-1", Snapshot.take(policy(steps, **fields), T0), T0)


def run(
    state: EscalationState, moments: list[dt.datetime]
) -> tuple[EscalationState, list[DueStep]]:
    """Tick at each moment in turn; return the final state and everything handed out."""
    sent: list[DueStep] = []
    for now in moments:
        state, steps = tick(state, now)
        sent += steps
    return state, sent


def minutes(count: int, every: int = 1, offset: int = 0) -> list[dt.datetime]:
    return [T0 + (offset + m) * MINUTE for m in range(0, count, every)]


def timeline(sent: list[DueStep]) -> list[tuple[int, str, int]]:
    return [(int((s.due_at - T0) / MINUTE), s.kind.value, s.key.round) for s in sent]


def test_sev1_climbs_primary_secondary_leads_three_rounds_then_stops() -> None:
    """Primary at 0, secondary after the wait, leads after the next; repeat twice, then nothing."""
    state, sent = run(begin(resolve_within="1d"), minutes(300))
    assert timeline(sent) == [
        (0, "notify_primary", 0),
        (5, "notify_secondary", 0),
        (15, "notify_leads", 0),
        (30, "notify_primary", 1),
        (35, "notify_secondary", 1),
        (45, "notify_leads", 1),
        (60, "notify_primary", 2),
        (65, "notify_secondary", 2),
        (75, "notify_leads", 2),
    ]
    assert [s.key for s in sent][:2] == [StepKey("HC-1", 0, 0), StepKey("HC-1", 2, 0)]
    assert state.cursor is None
    assert due_steps(state, T0 + dt.timedelta(days=30)) == []


def test_each_step_is_handed_out_at_its_due_time() -> None:
    """A tick hands out a step only once its due time has come."""
    state, sent = run(begin(), [T0, T0 + 4 * MINUTE])
    assert timeline(sent) == [(0, "notify_primary", 0)]
    assert next_due(state) == T0 + 5 * MINUTE
    assert timeline(due_steps(state, T0 + 5 * MINUTE)) == [(5, "notify_secondary", 0)]


def test_acknowledge_mid_climb_stops_everything_even_steps_already_due() -> None:
    """After an ack no climb step is handed out, even one that fell due before it."""
    state, sent = run(begin(), [T0])
    assert len(sent) == 1
    # The secondary fell due at 5 minutes but no tick claimed it before the ack at 6.
    state = acknowledge(state, "U0ALICE", T0 + 6 * MINUTE)
    assert due_steps(state, T0 + 6 * MINUTE) == []
    state, later = run(state, minutes(230, offset=6))  # to just before resolve-by
    assert later == []
    assert (state.acknowledged_by, state.acknowledged_at) == ("U0ALICE", T0 + 6 * MINUTE)
    assert next_due(state) == T0 + dt.timedelta(hours=4)  # only the resolve-by clock is left


def test_a_second_acknowledgement_keeps_the_first() -> None:
    """The first acknowledgement is the one recorded."""
    state = acknowledge(begin(), "U0ALICE", T0 + MINUTE)
    assert acknowledge(state, "U0BOB", T0 + 2 * MINUTE) == state


def test_bot_down_for_an_hour_fires_each_missed_step_once() -> None:
    """After an hour down, each missed step is handed out once, not once per missed tick."""
    state, sent = run(begin(resolve_within="1d"), [T0])
    # Down from 0:00:30 to 1:00; then ticks every 10 seconds for ten minutes.
    restart = T0 + 60 * MINUTE
    ticks = [restart + dt.timedelta(seconds=10 * n) for n in range(61)]
    state, after_restart = run(state, ticks)
    assert timeline(after_restart[:6]) == [
        (5, "notify_secondary", 0),
        (15, "notify_leads", 0),
        (30, "notify_primary", 1),
        (35, "notify_secondary", 1),
        (45, "notify_leads", 1),
        (60, "notify_primary", 2),
    ]
    assert timeline(after_restart[6:]) == [(65, "notify_secondary", 2)]  # on time again
    keys = [s.key for s in sent + after_restart]
    assert len(keys) == len(set(keys))


def test_the_snapshot_is_unaffected_by_a_changed_program() -> None:
    """An item in flight follows its snapshot after the program file's policy is replaced."""
    program = EscalationProgram(policies=(policy(),))
    live = program.policy_for("sev1")
    assert live is not None
    state = start("HC-1", Snapshot.take(live, T0), T0)
    edited = EscalationProgram(policies=(policy(["notify_channel", {"wait": "1m"}]),))
    new_policy = edited.policy_for("sev1")
    assert new_policy is not None
    state, sent = run(state, minutes(20))
    assert timeline(sent) == [
        (0, "notify_primary", 0),
        (5, "notify_secondary", 0),
        (15, "notify_leads", 0),
    ]
    assert state.snapshot.policy == live
    assert state.snapshot.policy is not live  # a copy: nothing shared with the live program
    newer = start("HC-2", Snapshot.take(new_policy, T0), T0)
    assert [s.kind for s in due_steps(newer, T0)] == [StepKind.NOTIFY_CHANNEL]


def test_state_round_trips_through_json() -> None:
    """The state, snapshot included, is stored as JSON and read back unchanged."""
    state, _ = run(begin(), minutes(7))
    state = acknowledge(state, "U0BOB", T0 + 7 * MINUTE)
    assert EscalationState.model_validate_json(state.model_dump_json()) == state


def test_stored_states_read_back_share_one_checked_snapshot() -> None:
    """States stored as JSON read back unchanged; those of one policy share its snapshot (a
    burst's thousand items check it once), and another policy's snapshot stays its own."""
    first, _ = run(begin(), minutes(7))
    second = start("HC-2", first.snapshot, T0)
    stored = [json.loads(s.model_dump_json()) for s in (first, second)]
    read = [stored_state(s) for s in stored]
    assert read == [first, second]
    assert read[0].snapshot is read[1].snapshot
    edited = EscalationProgram(policies=(policy(["notify_channel", {"wait": "1m"}]),))
    new_policy = edited.policy_for("sev1")
    assert new_policy is not None
    other = start("HC-3", Snapshot.take(new_policy, T0), T0)
    read_other = stored_state(json.loads(other.model_dump_json()))
    assert read_other == other and read_other.snapshot.policy == new_policy
    assert read_other.snapshot is not read[0].snapshot


def test_sla_clocks_run_from_the_start() -> None:
    """Ack-by and resolve-by run from the start; each is breached once it runs out undone."""
    state = begin()
    assert sla(state, T0 + 14 * MINUTE) == (
        T0 + 15 * MINUTE,
        T0 + dt.timedelta(hours=4),
        False,
        False,
    )
    assert sla(state, T0 + 15 * MINUTE).ack_breached
    assert not sla(acknowledge(state, "U0A", T0 + 10 * MINUTE), T0 + dt.timedelta(hours=2))[2]
    resolved_early = resolve(state, T0 + 10 * MINUTE)
    assert sla(resolved_early, T0 + dt.timedelta(days=1))[2:] == (False, False)
    resolved_late = resolve(acknowledge(state, "U0A", T0 + 20 * MINUTE), T0 + 5 * 60 * MINUTE)
    assert sla(resolved_late, T0 + dt.timedelta(days=1))[2:] == (True, True)


def test_sla_breach_produces_exactly_one_breach_round() -> None:
    """Past resolve-by, unresolved though acknowledged: one flagged round, however many ticks."""
    state, _ = run(begin(), [T0])
    state = acknowledge(state, "U0ALICE", T0 + 2 * MINUTE)
    state, sent = run(state, minutes(6 * 60, every=5, offset=5))
    resolve_due = T0 + dt.timedelta(hours=4)
    assert [(s.kind.value, s.due_at, s.sla_breached) for s in sent] == [
        ("notify_primary", resolve_due, True),
        ("notify_secondary", resolve_due, True),
        ("notify_leads", resolve_due, True),
    ]
    assert {s.key.round for s in sent} == {3}  # one past the climb's rounds 0–2
    assert state.breach_taken
    assert next_due(state) is None


def test_resolution_stops_the_climb_and_the_breach_round() -> None:
    """A resolved item hands out nothing more, climb or breach."""
    state = resolve(begin(), T0 + MINUTE)
    _, sent = run(state, minutes(10 * 60, every=7))
    assert sent == []
    assert next_due(state) is None
    assert breach_steps(state, T0 + dt.timedelta(days=1)) == []


def test_missing_target_makes_the_next_notification_due_at_once() -> None:
    """When nobody can be reached the next notification is due now; later waits count from now."""
    state, sent = run(begin(), [T0 + 30 * dt.timedelta(seconds=1)])
    (primary,) = sent
    state = skip_to_next(state, primary.key, T0 + MINUTE)
    state, now_due = tick(state, T0 + MINUTE)
    assert timeline(now_due) == [(1, "notify_secondary", 0)]
    assert next_due(state) == T0 + 11 * MINUTE  # the 10-minute wait after the secondary


def test_skip_to_next_needs_the_step_handed_out_first() -> None:
    """Skipping a step that was never handed out is a caller error; skipping a batch is a no-op."""
    state = begin()
    with pytest.raises(ValueError, match="advance the state first"):
        skip_to_next(state, StepKey("HC-1", 0, 0), T0)
    with pytest.raises(ValueError, match="not of item 'HC-1'"):
        skip_to_next(state, StepKey("HC-2", 0, 0), T0)
    state, sent = run(state, [T0 + 6 * MINUTE])  # primary and secondary in one batch
    assert skip_to_next(state, sent[0].key, T0 + 6 * MINUTE) == state


def test_naive_now_is_refused() -> None:
    """A naive `now` is refused rather than read in some local zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        due_steps(begin(), dt.datetime(2025, 3, 3, 12, 0))


NOTIFY = st.sampled_from(
    ["notify_primary", "notify_secondary", "notify_leads", "notify_channel", "notify_group"]
)


@st.composite
def policies(draw: st.DrawFn) -> EscalationPolicy:
    steps: list[Any] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            steps.append({"wait": draw(st.integers(1, 3600))})
        else:
            kind = draw(NOTIFY)
            steps.append({kind: "S0SRE"} if kind == "notify_group" else kind)
    if not any(isinstance(step, str) or "notify_group" in step for step in steps):
        steps.append("notify_primary")
    if any(isinstance(step, dict) and "wait" in step for step in steps) and draw(st.booleans()):
        steps.append({"repeat": draw(st.integers(1, 3))})
    ack = draw(st.integers(60, 7200))
    return policy(steps, ack_within=ack, resolve_within=ack + draw(st.integers(0, 7200)))


OFFSETS = st.lists(st.integers(0, 3 * 3600), min_size=1, max_size=25).map(sorted)


def climb_keys(policy: EscalationPolicy) -> int:
    """How many notifications a full climb hands out."""
    return policy.rounds * sum(1 for step in policy.body if step.kind.notifies)


@settings(max_examples=200, deadline=None)
@given(policies(), OFFSETS)
def test_no_step_key_is_handed_out_twice_and_none_is_lost(
    escalation: EscalationPolicy, offsets: list[int]
) -> None:
    """For ticks moving forward, every key is handed out once, as one late tick would hand out."""
    state = start("HC-1", Snapshot.take(escalation, T0), T0)
    moments = [T0 + dt.timedelta(seconds=s) for s in offsets]
    final, sent = state, []
    for now in moments:
        final, steps = tick(final, now)
        assert all(step.due_at <= now for step in steps)
        sent += steps
    keys = [s.key for s in sent]
    assert len(keys) == len(set(keys))
    _, at_once = run(state, moments[-1:])
    assert set(keys) == {s.key for s in at_once}
    _, drained = run(final, [moments[-1] + dt.timedelta(days=2)])
    climb = [s for s in sent + drained if not s.sla_breached]
    assert len(climb) == climb_keys(escalation)


@settings(max_examples=200, deadline=None)
@given(policies(), OFFSETS, st.integers(0, 3 * 3600))
def test_nothing_of_the_climb_is_due_after_an_acknowledgement(
    escalation: EscalationPolicy, offsets: list[int], ack_offset: int
) -> None:
    """Once acknowledged, no climb step is ever handed out again, whatever the ticks."""
    state = start("HC-1", Snapshot.take(escalation, T0), T0)
    ack_at = T0 + dt.timedelta(seconds=ack_offset)
    before = [T0 + dt.timedelta(seconds=s) for s in offsets if s < ack_offset]
    after = [T0 + dt.timedelta(seconds=s) for s in offsets if s >= ack_offset]
    state, _ = run(state, before)
    state = acknowledge(state, "U0ALICE", ack_at)
    state, sent = run(state, [*after, T0 + dt.timedelta(days=2)])
    assert [s for s in sent if not s.sla_breached] == []
    assert len(sent) <= sum(1 for step in escalation.body if step.kind.notifies)
    assert advance(state, T0 + dt.timedelta(days=3)) == state


@settings(max_examples=200, deadline=None)
@given(policies(), OFFSETS, st.lists(st.booleans(), min_size=25, max_size=25))
def test_skipping_missing_targets_never_repeats_a_step(
    escalation: EscalationPolicy, offsets: list[int], missing: list[bool]
) -> None:
    """However many targets turn out missing, each key is still handed out at most once."""
    state = start("HC-1", Snapshot.take(escalation, T0), T0)
    keys: list[StepKey] = []
    for now, target_missing in zip(
        [T0 + dt.timedelta(seconds=s) for s in offsets], missing, strict=False
    ):
        state, steps = tick(state, now)
        keys += [step.key for step in steps]
        climb = [step for step in steps if not step.sla_breached]
        if target_missing and climb:
            state = skip_to_next(state, climb[-1].key, now)
    assert len(keys) == len(set(keys))
